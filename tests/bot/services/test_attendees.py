"""Attendee registration and subscription."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.db.models import Attendee
from bot.services import attendees, events
from bot.services.attendees import Arrival
from bot.services.events import EventFields


def arrival(user_id: int, source: str = "qr", name: str = "Ada") -> Arrival:
    return Arrival(
        telegram_user_id=user_id,
        chat_id=user_id,
        display_name=name,
        username=None,
        language_code="de-AT",
        source=source,
    )


async def test_register_stores_source_and_language(db):
    event = await events.create_event(db, EventFields(title="Spring drop"))

    attendee = await attendees.register(db, event.id, arrival(1, "bc"))

    assert attendee.is_new
    assert attendee.arrival_source == "bc"
    assert attendee.language == "de"
    assert attendee.subscribed


async def test_second_arrival_keeps_first_source(db):
    event = await events.create_event(db, EventFields(title="Spring drop"))
    await attendees.register(db, event.id, arrival(1, "qr"))

    again = await attendees.register(db, event.id, arrival(1, "bc"))

    assert not again.is_new
    assert again.arrival_source == "qr"


async def test_start_again_resubscribes(db):
    event = await events.create_event(db, EventFields(title="Spring drop"))
    await attendees.register(db, event.id, arrival(1))
    await attendees.set_subscribed(db, event.id, 1, False)

    again = await attendees.register(db, event.id, arrival(1))

    assert again.subscribed


async def test_twenty_concurrent_registrations_all_stored(db):
    event = await events.create_event(db, EventFields(title="Spring drop"))

    results = await asyncio.gather(
        *(attendees.register(db, event.id, arrival(100 + n)) for n in range(20)),
        *(attendees.register(db, event.id, arrival(100 + n)) for n in range(20)),
    )

    async with db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(Attendee))
    assert count == 20
    assert sum(result.is_new for result in results) == 20
