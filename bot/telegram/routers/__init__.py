"""One router per topic; `all_routers` lists them in the order the dispatcher includes them."""

from __future__ import annotations

from aiogram import Router


def all_routers() -> list[Router]:
    from bot.telegram.routers import attendee, drops, organiser, privacy

    # The organiser router goes first: it rejects console commands everywhere else.
    return [
        organiser.create_router(),
        attendee.create_router(),
        drops.create_router(),
        privacy.create_router(),
        attendee.create_unknown_command_router(),
    ]
