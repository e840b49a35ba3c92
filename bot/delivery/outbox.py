"""The outbox in the database: claim the next due delivery, record how its send ended."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from bot.db.engine import Database
from bot.db.models import Announcement, AnnouncementStatus, Attendee, Delivery, DeliveryStatus
from bot.db.types import utcnow
from bot.delivery import metrics
from bot.services.attendees import mark_unreachable

logger = logging.getLogger(__name__)

CLAIMABLE = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    announcement_id: int
    chat_id: int
    attempts: int
    parts_sent: int
    text: str
    kind: str
    delayed: bool
    relevant_until: datetime | None
    announcement_status: str
    language: str
    scheduled_for: datetime


async def claim_next(
    db: Database, *, lease: timedelta, probe: bool = True
) -> ClaimedDelivery | None:
    """Take the oldest due delivery and lease it to this worker.

    A delivery in `sending` whose lease ran out belongs to a worker that died mid-send; it is
    taken again, which is the only way a recipient can get a second copy. On PostgreSQL
    `FOR UPDATE SKIP LOCKED` lets workers in several processes claim side by side; SQLite
    serialises writers anyway.
    """
    now = utcnow()
    # An idle worker looks first without the write lock; a busy one goes straight on.
    if probe and not await _any_due(db, now):
        return None
    async with db.transaction() as session:
        candidate = (
            select(Delivery.id)
            .where(Delivery.status.in_(CLAIMABLE), Delivery.next_attempt_at <= now)
            # Oldest first by when the delivery was written (fan-out time), so an announcement
            # created early but due late never overtakes one already being sent.
            .order_by(Delivery.created_at, Delivery.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        delivery_id = await session.scalar(candidate)
        if delivery_id is None:
            return None
        row = await session.get(Delivery, delivery_id)
        assert row is not None
        row.status = DeliveryStatus.SENDING
        row.attempts += 1
        row.next_attempt_at = now + lease
        announcement = await session.get(Announcement, row.announcement_id)
        assert announcement is not None
        language = await session.scalar(
            select(Attendee.language).where(Attendee.id == row.attendee_id)
        )
        return ClaimedDelivery(
            id=row.id,
            announcement_id=row.announcement_id,
            chat_id=row.chat_id,
            attempts=row.attempts,
            parts_sent=row.parts_sent,
            text=announcement.text,
            kind=announcement.kind,
            delayed=announcement.delayed,
            relevant_until=announcement.relevant_until,
            announcement_status=announcement.status.value,
            language=language or "en",
            scheduled_for=announcement.scheduled_for,
        )


async def _any_due(db: Database, now: datetime) -> bool:
    """Look for due work without taking SQLite's write lock, which idle polls would hog."""
    async with db.transaction(readonly=True) as session:
        found = await session.scalar(
            select(Delivery.id)
            .where(Delivery.status.in_(CLAIMABLE), Delivery.next_attempt_at <= now)
            .limit(1)
        )
        return found is not None


async def record_sent(db: Database, delivery_id: int, message_id: int, parts: int) -> None:
    await _finish(
        db,
        delivery_id,
        DeliveryStatus.SENT,
        message_id=message_id,
        parts_sent=parts,
        sent_at=utcnow(),
        error=None,
    )


async def record_part(db: Database, delivery_id: int, parts_sent: int) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Delivery).where(Delivery.id == delivery_id).values(parts_sent=parts_sent)
        )


async def record_unreachable(db: Database, delivery_id: int, chat_id: int, error: str) -> None:
    """Mark the delivery and the attendee unreachable, and every other pending send to them."""
    async with db.transaction() as session:
        await mark_unreachable(session, chat_id)
        await session.execute(
            update(Delivery)
            .where(
                Delivery.chat_id == chat_id,
                Delivery.status.in_(CLAIMABLE),
                Delivery.id != delivery_id,
            )
            .values(status=DeliveryStatus.UNREACHABLE, error=error)
        )
    await _finish(db, delivery_id, DeliveryStatus.UNREACHABLE, error=error)


async def mark_delayed(db: Database, announcement_id: int) -> None:
    """Mark an announcement late, so every copy still to be sent carries the late mark."""
    async with db.transaction() as session:
        result = await session.execute(
            update(Announcement)
            .where(Announcement.id == announcement_id, Announcement.delayed.is_(False))
            .values(delayed=True)
        )
    if result.rowcount:
        logger.info("Announcement marked delayed: announcement_id=%s", announcement_id)


async def record_failed(db: Database, delivery_id: int, error: str) -> None:
    await _finish(db, delivery_id, DeliveryStatus.FAILED, error=error)


async def record_expired(db: Database, delivery_id: int, reason: str) -> None:
    await _finish(db, delivery_id, DeliveryStatus.EXPIRED, error=reason)


async def record_uncertain(db: Database, delivery_id: int, error: str) -> None:
    await _finish(db, delivery_id, DeliveryStatus.UNCERTAIN, error=error)


async def record_retry(db: Database, delivery_id: int, delay: timedelta, error: str) -> None:
    """Put a delivery back in the queue, due after `delay`."""
    metrics.RETRIES.inc()
    async with db.transaction() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, next_attempt_at=utcnow() + delay, error=error)
        )


async def requeue_own_leases(db: Database) -> int:
    """Return every `sending` delivery to the queue; only safe when no other process sends."""
    async with db.transaction() as session:
        result = await session.execute(
            update(Delivery)
            .where(Delivery.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, next_attempt_at=utcnow())
        )
        return result.rowcount or 0


async def queue_depth(db: Database) -> int:
    async with db.transaction(readonly=True) as session:
        return (
            await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status.in_(CLAIMABLE))
            )
            or 0
        )


async def sending_announcements(db: Database) -> list[int]:
    async with db.transaction(readonly=True) as session:
        rows = await session.scalars(
            select(Announcement.id).where(Announcement.status == AnnouncementStatus.SENDING)
        )
        return list(rows)


async def _finish(
    db: Database, delivery_id: int, status: DeliveryStatus, **values: object
) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Delivery).where(Delivery.id == delivery_id).values(status=status, **values)
        )
    metrics.DELIVERIES.labels(state=status.value).inc()
