"""A night with attendees, a drop, claims, deliveries and a print, for stats and export tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.db.models import (
    Announcement,
    Attendee,
    Claim,
    ClaimStatus,
    Delivery,
    DeliveryStatus,
    Drop,
    PrintJob,
    PrintStatus,
)
from bot.db.types import utcnow
from bot.services import attendees, events
from bot.services.attendees import Arrival
from bot.services.events import EventFields


def arrival(user_id: int, name: str) -> Arrival:
    return Arrival(
        telegram_user_id=user_id,
        chat_id=user_id,
        display_name=name,
        username=name.lower(),
        language_code="en",
        source="qr",
    )


@pytest.fixture
async def night(db):
    """An event with three attendees (one forgotten, one unreachable), a drop and its traces."""
    event = await events.create_event(db, EventFields(title="Spring drop", time_zone="UTC"))
    ada = await attendees.register(db, event.id, arrival(11, "Ada"))
    bob = await attendees.register(db, event.id, arrival(12, "=HYPERLINK(evil)"))
    eve = await attendees.register(db, event.id, arrival(13, "Eve Secret"))
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(
            update(Attendee)
            .where(Attendee.id == eve.id)
            .values(telegram_user_id=None, forgotten_at=now, subscribed=False)
        )
        await session.execute(
            update(Attendee).where(Attendee.id == bob.id).values(unreachable=True)
        )
        drop = Drop(
            event_id=event.id,
            title="Tote bag",
            starts_at=now + timedelta(hours=1),
            stock=10,
            remaining=7,
        )
        session.add(drop)
        await session.flush()
        claims = [
            Claim(drop_id=drop.id, attendee_id=ada.id, code="AAA111"),
            Claim(drop_id=drop.id, attendee_id=eve.id, code="EEE333"),
            Claim(
                drop_id=drop.id,
                attendee_id=bob.id,
                code="BBB222",
                status=ClaimStatus.COLLECTED,
                collected_at=now,
                collected_by="Olga",
            ),
        ]
        session.add_all(claims)
        announcement = Announcement(event_id=event.id, text="Doors open")
        session.add(announcement)
        await session.flush()
        session.add_all(
            [
                Delivery(
                    announcement_id=announcement.id,
                    attendee_id=ada.id,
                    chat_id=11,
                    status=DeliveryStatus.SENT,
                    sent_at=now,
                ),
                Delivery(
                    announcement_id=announcement.id,
                    attendee_id=bob.id,
                    chat_id=12,
                    status=DeliveryStatus.UNREACHABLE,
                    error="Forbidden: bot was blocked by the user",
                ),
                PrintJob(
                    event_id=event.id,
                    kind="receipt",
                    claim_id=claims[1].id,
                    status=PrintStatus.PRINTED,
                    printed_at=now,
                ),
            ]
        )
    return {"event": event, "ada": ada, "bob": bob, "eve": eve}
