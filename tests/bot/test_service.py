"""The bot service end to end: real aiogram over HTTP against the Bot API emulator."""

from __future__ import annotations

import asyncio

from aiogram.types import Update

from bot import links
from bot.links import Link, LinkKind
from bot.services import events
from bot.services.events import EventFields


async def create_event(stage, title="Spring drop"):
    return await events.create_event(
        stage.bot.db, EventFields(title=title, venue_name="Hall 7", venue_address="Main St 1")
    )


async def test_start_without_payload_shows_event_card(stage):
    await create_event(stage)
    ada = stage.emulator.user(101, "Ada")

    stage.emulator.send_start(ada)

    card = await stage.emulator.wait_for_message(101, lambda m: "Spring drop" in m["text"])
    assert "Hall 7" in card["text"]
    assert card["reply_markup"]["inline_keyboard"]


async def test_start_before_event_shows_landing(stage):
    ada = stage.emulator.user(101, "Ada")

    stage.emulator.send_start(ada)

    landing = await stage.emulator.wait_for_message(101)
    assert "Nothing is on yet" in landing["text"]


async def test_start_in_german_uses_catalogue(stage):
    await create_event(stage)
    jonas = stage.emulator.user(102, "Jonas", language_code="de")

    stage.emulator.send_start(jonas)

    card = await stage.emulator.wait_for_message(102)
    assert card["text"].startswith("Willkommen, Jonas!")


async def test_forged_receipt_payload_gets_landing(stage):
    await create_event(stage)
    secret = stage.bot.settings.signing_secret.get_secret_value()
    payload = links.encode(Link(LinkKind.RECEIPT, 1), secret)
    forged = payload[:-1] + ("x" if payload[-1] != "x" else "y")
    ada = stage.emulator.user(101, "Ada")

    stage.emulator.send_start(ada, forged)

    reply = await stage.emulator.wait_for_message(101)
    assert "not valid" in reply["text"]


async def test_replayed_update_handled_once(stage):
    await create_event(stage)
    stage.emulator.user(101, "Ada")
    update = Update.model_validate(
        {
            "update_id": 4242,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 101, "type": "private"},
                "from": {"id": 101, "is_bot": False, "first_name": "Ada"},
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
    )

    for _ in range(3):
        await stage.bot.dispatcher.feed_update(stage.bot.bot, update)

    assert len(stage.emulator.messages(101)) == 1


async def test_reply_to_blocked_attendee_marks_unreachable(stage):
    from sqlalchemy import select

    from bot.db.models import Attendee

    await create_event(stage)
    ada = stage.emulator.user(101, "Ada")
    stage.emulator.send_start(ada)
    await stage.emulator.wait_for_message(101)
    stage.emulator.block_chat(101)

    stage.emulator.send_text(ada, "/help")
    await stage.emulator.wait_for(
        lambda: [c for c in stage.emulator.calls_to("sendMessage") if c.status == 403]
    )

    async def unreachable():
        async with stage.bot.db.transaction(readonly=True) as session:
            return await session.scalar(
                select(Attendee.unreachable).where(Attendee.chat_id == 101)
            )

    for _ in range(50):
        if await unreachable():
            break
        await asyncio.sleep(0.05)
    assert await unreachable() is True
