"""Unknown and differently cased commands in the organiser group and in attendees' chats."""

from __future__ import annotations

import pytest

from tests.bot.telegram import console_helpers
from tests.bot.telegram.console_helpers import (
    audit_entries,
    bot_messages,
    handled,
    one_reply,
)

console = console_helpers.console


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "/anounce Doors open",
            "Unknown command /anounce. Did you mean /announce? "
            "/help lists the organiser commands.",
        ),
        ("/bogus", "Unknown command /bogus. /help lists the organiser commands."),
    ],
)
async def test_unknown_command_named_with_suggestion(console, text, expected):
    reply = await one_reply(console, text)

    assert reply == expected


async def test_unknown_command_audited_as_invalid(console):
    update_id = console.emulator.send_text(
        console.organiser, "/anounce Doors open", chat=console.organisers
    )
    await handled(console, update_id)

    (entry,) = await audit_entries(console)
    assert entry.action == "anounce"
    assert entry.result == "invalid"


async def test_command_in_other_case_works(console):
    reply = await one_reply(console, "/Event Spring night")

    assert reply.startswith("Event created.")


async def test_mixed_case_announce_sends(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/Announce Doors are open")

    assert reply.startswith("Announcement #1")


@pytest.mark.parametrize(
    "text", ["hello everyone", "/bogus@otherbot", "/announce@otherbot Doors open"]
)
async def test_chat_and_other_bots_commands_unanswered(console, text):
    before = len(bot_messages(console, console.organisers.id))

    update_id = console.emulator.send_text(console.organiser, text, chat=console.organisers)
    await handled(console, update_id)

    assert len(bot_messages(console, console.organisers.id)) == before
    assert await audit_entries(console) == []


async def test_attendee_unknown_command_points_to_help(console):
    guest = console.emulator.user(668, "Ada")

    reply = await one_reply(console, "/bogus", user=guest, chat=guest.id)

    assert reply == "Unknown command /bogus. Send /help to see what the bot can do."


async def test_attendee_free_text_unanswered(console):
    guest = console.emulator.user(668, "Ada")

    update_id = console.emulator.send_text(guest, "hello")
    await handled(console, update_id)

    assert bot_messages(console, guest.id) == []
