"""Figures of the night for the organisers' /stats: attendees, claims and deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, case, func, select

from bot.db.engine import Database
from bot.db.models import Attendee
from bot.services import announcements, drop_stats
from bot.services.drop_stats import DropStats
from bot.services.events import require_active_event


@dataclass(frozen=True)
class NightStats:
    event_id: int
    event_title: str
    attendees: int
    subscribed: int
    unreachable: int
    forgotten: int
    drops: list[DropStats] = field(default_factory=list)
    deliveries: dict[str, int] = field(default_factory=dict)


async def night_stats(db: Database) -> NightStats:
    """Count the active event's attendees, claims per drop and deliveries per state.

    `subscribed` counts attendees who still get announcements: subscribed, reachable and not
    forgotten. Raises NotFoundError when no event is set up.
    """
    async with db.transaction() as session:
        event = await require_active_event(session)
        forgotten = Attendee.forgotten_at.is_not(None)
        row = (
            await session.execute(
                select(
                    func.count(),
                    _count(
                        and_(
                            Attendee.subscribed.is_(True),
                            Attendee.unreachable.is_(False),
                            Attendee.forgotten_at.is_(None),
                        )
                    ),
                    _count(Attendee.unreachable.is_(True)),
                    _count(forgotten),
                ).where(Attendee.event_id == event.id)
            )
        ).one()
        event_id, title = event.id, event.title
    return NightStats(
        event_id=event_id,
        event_title=title,
        attendees=int(row[0]),
        subscribed=int(row[1]),
        unreachable=int(row[2]),
        forgotten=int(row[3]),
        drops=await drop_stats.claims_per_drop(db, event_id),
        deliveries=await announcements.delivery_counts(db, event_id),
    )


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
