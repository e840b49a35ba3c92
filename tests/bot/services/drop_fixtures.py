"""Helpers shared by the drop, claim and hold tests: an event, attendees and a live drop."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert

from bot.db.engine import Database
from bot.db.models import Attendee
from bot.db.types import utcnow
from bot.services import drops, events
from bot.services.events import EventFields
from bot.services.receipts import ReceiptLinks

LINKS = ReceiptLinks(secret="test-secret-of-some-length", bot_username="micropop_test_bot")


class RecordingScheduler:
    """Scheduler fake: records which announcements were scheduled and unscheduled."""

    def __init__(self) -> None:
        self.scheduled: dict[int, datetime] = {}
        self.unscheduled: list[int] = []

    def schedule_announcement(self, announcement_id: int, when: datetime) -> None:
        self.scheduled[announcement_id] = when

    def unschedule_announcement(self, announcement_id: int) -> None:
        self.unscheduled.append(announcement_id)
        self.scheduled.pop(announcement_id, None)


async def make_event(db: Database, title: str = "Spring night") -> int:
    event = await events.create_event(db, EventFields(title=title, time_zone="Europe/Berlin"))
    return event.id


async def add_attendees(db: Database, event_id: int, user_ids: range | list[int]) -> None:
    rows = [
        {
            "event_id": event_id,
            "telegram_user_id": user_id,
            "chat_id": user_id,
            "display_name": f"Guest {user_id}",
            "language": "en",
        }
        for user_id in user_ids
    ]
    async with db.transaction() as session:
        await session.execute(insert(Attendee), rows)


async def make_drop(db: Database, *, stock: int = 1, **options) -> tuple[drops.DropView, datetime]:
    """Create a drop starting in a minute; return it with a moment just after its T-0."""
    starts_at = utcnow() + timedelta(minutes=1)
    drop = await drops.create_drop(
        db, title=options.pop("title", "Tote bag"), starts_at=starts_at, stock=stock, **options
    )
    return drop, starts_at + timedelta(seconds=1)
