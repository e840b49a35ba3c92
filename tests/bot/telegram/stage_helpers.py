"""Helpers for end-to-end tests on a stage: a live drop, deep links, buttons and a claim."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot import links
from bot.db.models import Drop
from bot.db.types import utcnow
from bot.services import drops, events
from bot.services.drops import DropView
from bot.services.events import EventFields


async def live_drop(stage, *, title: str = "Tote bag", stock: int = 5) -> DropView:
    """Create an event, if none is active, and a drop that went live a second ago."""
    db = stage.bot.db
    if await events.active_event(db) is None:
        await events.create_event(db, EventFields(title="Spring night"))
    drop = await drops.create_drop(
        db, title=title, starts_at=utcnow() + timedelta(minutes=5), stock=stock
    )
    async with db.transaction() as session:
        await session.execute(
            update(Drop)
            .where(Drop.id == drop.id)
            .values(starts_at=utcnow() - timedelta(seconds=1))
        )
    return drop


def start_payload(stage, kind: links.LinkKind, row_id: int) -> str:
    secret = stage.bot.settings.signing_secret.get_secret_value()
    return links.encode(links.Link(kind, row_id), secret)


def button(message: dict, prefix: str) -> str | None:
    """Return the callback data of the first button under `message` that starts with `prefix`."""
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for item in row:
            if item.get("callback_data", "").startswith(prefix):
                return item["callback_data"]
    return None


async def open_card(stage, user, drop_id: int) -> dict:
    stage.emulator.send_start(user, start_payload(stage, links.LinkKind.DROP, drop_id))
    return await stage.emulator.wait_for_message(user.id, lambda m: button(m, "dr:c:"))


async def claim(stage, user, drop_id: int) -> dict:
    """Open the drop card and press Claim; return the receipt photo message."""
    card = await open_card(stage, user, drop_id)
    stage.emulator.press_button(user, card, button(card, "dr:c:"))
    return await stage.emulator.wait_for_message(user.id, lambda m: "photo" in m, timeout=10)
