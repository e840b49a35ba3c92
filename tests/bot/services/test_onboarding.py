"""Arrival through /start: event lookup, registration and catch-up, alone and in bursts."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot import links
from bot.db.models import Announcement, AnnouncementStatus, Attendee, Delivery, DeliveryStatus
from bot.services import events, onboarding
from bot.services.attendees import Arrival
from bot.services.events import EventFields


def arrival(user_id: int, source: str = "direct") -> Arrival:
    return Arrival(
        telegram_user_id=user_id,
        chat_id=user_id,
        display_name=f"Guest {user_id}",
        username=None,
        language_code="en",
        source=source,
    )


async def add_sent_announcement(db, event_id: int, deliveries: dict[int, DeliveryStatus]) -> int:
    async with db.transaction() as session:
        announcement = Announcement(
            event_id=event_id, text="Doors open", status=AnnouncementStatus.DONE
        )
        session.add(announcement)
        await session.flush()
        for chat_id, status in deliveries.items():
            session.add(Delivery(announcement_id=announcement.id, chat_id=chat_id, status=status))
        return announcement.id


async def test_burst_registers_each_arrival(db):
    event = await events.create_event(db, EventFields(title="Spring drop"))
    desk = onboarding.Arrivals(db)

    landings = await asyncio.gather(
        *(desk.arrive(None, arrival(100 + n)) for n in range(40)),
        *(desk.arrive(None, arrival(100 + n)) for n in range(10)),
    )

    async with db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(Attendee))
    assert count == 40
    assert sum(landing.attendee.is_new for landing in landings) == 40
    for n, landing in enumerate(landings):
        assert landing.event.id == event.id
        assert landing.attendee.telegram_user_id == 100 + n % 40


async def test_arrival_without_event_lands_nowhere(db):
    landing = await onboarding.Arrivals(db).arrive(None, arrival(1))

    assert landing.event is None
    assert landing.attendee is None


async def test_event_link_picks_linked_event(db):
    first = await events.create_event(db, EventFields(title="First night"))
    second = await events.create_event(db, EventFields(title="Second night"))
    desk = onboarding.Arrivals(db)
    link = links.Link(kind=links.LinkKind.EVENT, id=first.id)
    missing = links.Link(kind=links.LinkKind.EVENT, id=first.id + 100)

    linked, active, fallback = await asyncio.gather(
        desk.arrive(link, arrival(1, "link")),
        desk.arrive(None, arrival(2)),
        desk.arrive(missing, arrival(3, "link")),
    )

    assert linked.event.id == first.id
    assert active.event.id == second.id
    assert fallback.event.id == second.id


async def test_burst_catches_up_missed_announcement(db):
    event = await events.create_event(db, EventFields(title="Spring drop"))
    announcement_id = await add_sent_announcement(
        db, event.id, {201: DeliveryStatus.UNREACHABLE, 202: DeliveryStatus.SENT}
    )
    desk = onboarding.Arrivals(db)

    landings = await asyncio.gather(
        *(desk.arrive(None, arrival(user)) for user in (201, 202, 203))
    )

    assert [landing.caught_up for landing in landings] == [1, 0, 1]
    async with db.transaction() as session:
        announcement = await session.get(Announcement, announcement_id)
        rows = await session.execute(select(Delivery.chat_id, Delivery.status))
        statuses = {chat_id: status for chat_id, status in rows}
    assert announcement.status == AnnouncementStatus.SENDING
    assert statuses == {
        201: DeliveryStatus.PENDING,
        202: DeliveryStatus.SENT,
        203: DeliveryStatus.PENDING,
    }


async def test_single_arrival_matches_burst(db):
    event = await events.create_event(db, EventFields(title="Spring drop"))
    await add_sent_announcement(db, event.id, {})

    first = await onboarding.arrive(db, None, arrival(301))
    again = await onboarding.arrive(db, None, arrival(301))

    assert first.attendee.is_new
    assert first.caught_up == 1
    assert not again.attendee.is_new
    assert again.caught_up == 0
