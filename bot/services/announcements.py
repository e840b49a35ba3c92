"""Announcements: stored first, fanned out to one delivery row per recipient, then sent.

An announcement is a row before anything is sent. At its time the scheduler calls `fan_out`,
which writes every delivery in one transaction; the outbox workers then send them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Select, bindparam, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import links
from bot.db.engine import Database
from bot.db.models import (
    Announcement,
    AnnouncementStatus,
    Attendee,
    Delivery,
    DeliveryStatus,
    Drop,
    DropReminder,
    Event,
    PrintJob,
)
from bot.db.types import utcnow
from bot.errors import InputError, NotFoundError
from bot.services import venue_feed
from bot.services.events import require_active_event
from bot.services.shortlinks import short_link_for

logger = logging.getLogger(__name__)

MAX_TEXT = 20_000  # split into parts of at most 4096 characters when sent
# Without an event end, an announcement stays relevant for late arrivals this long.
DEFAULT_RELEVANCE = timedelta(hours=12)
OPEN_STATUSES = (
    AnnouncementStatus.AWAITING_CONFIRMATION,
    AnnouncementStatus.SCHEDULED,
    AnnouncementStatus.SENDING,
)
UNFINISHED_DELIVERIES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
CATCH_UP_STATUSES = (AnnouncementStatus.SENDING, AnnouncementStatus.DONE)


class JobScheduler(Protocol):
    """What services need from the scheduler: timing announcements by id."""

    def schedule_announcement(self, announcement_id: int, when: datetime) -> None: ...

    def unschedule_announcement(self, announcement_id: int) -> None: ...


@dataclass(frozen=True)
class AnnouncementView:
    id: int
    event_id: int
    kind: str
    text: str
    status: str
    scheduled_for: datetime
    relevant_until: datetime | None
    drop_id: int | None
    delayed: bool
    created_by: str
    recipients: int = 0
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FanOut:
    """The result of fanning out: how many deliveries were written and how late it ran."""

    announcement_id: int
    deliveries: int
    late_by: timedelta
    delayed: bool
    missed: bool


def to_view(row: Announcement, *, recipients: int = 0, counts: dict[str, int] | None = None):
    return AnnouncementView(
        id=row.id,
        event_id=row.event_id,
        kind=row.kind,
        text=row.text,
        status=row.status.value,
        scheduled_for=row.scheduled_for,
        relevant_until=row.relevant_until,
        drop_id=row.drop_id,
        delayed=row.delayed,
        created_by=row.created_by,
        recipients=recipients,
        counts=counts or {},
    )


async def create(
    db: Database,
    scheduler: JobScheduler,
    *,
    text: str,
    created_by: str,
    scheduled_for: datetime | None = None,
    kind: str = "announcement",
    drop_id: int | None = None,
    relevant_until: datetime | None = None,
    needs_confirmation: bool = False,
) -> AnnouncementView:
    """Store an announcement and schedule it (at once when `scheduled_for` is None)."""
    text = text.strip()
    if not text:
        raise InputError(
            "Missing announcement text: use /announce TEXT, e.g. /announce Doors open"
        )
    if len(text) > MAX_TEXT:
        raise InputError(
            f"Announcement of {len(text)} characters is too long: use {MAX_TEXT} or fewer"
        )
    now = utcnow()
    when = scheduled_for or now
    async with db.transaction() as session:
        event = await require_active_event(session)
        row = Announcement(
            event_id=event.id,
            kind=kind,
            text=text,
            scheduled_for=when,
            drop_id=drop_id,
            relevant_until=relevant_until or _default_relevance(event, when),
            created_by=created_by,
            status=(
                AnnouncementStatus.AWAITING_CONFIRMATION
                if needs_confirmation
                else AnnouncementStatus.SCHEDULED
            ),
        )
        session.add(row)
        await session.flush()
        recipients = await _count_recipients(session, event.id)
        view = to_view(row, recipients=recipients)
    if view.status == AnnouncementStatus.SCHEDULED:
        scheduler.schedule_announcement(view.id, when)
    logger.info(
        "Announcement stored: announcement_id=%s kind=%s scheduled_for=%s status=%s",
        view.id,
        kind,
        when.isoformat(),
        view.status,
    )
    return view


async def confirm(
    db: Database, scheduler: JobScheduler, announcement_id: int, confirmed_by: str
) -> AnnouncementView:
    """Release an announcement that waited for a confirmation press."""
    async with db.transaction() as session:
        row = await _get(session, announcement_id)
        if row.status != AnnouncementStatus.AWAITING_CONFIRMATION:
            raise InputError(
                f"Announcement {announcement_id} is {row.status.value}, not awaiting confirmation"
            )
        row.status = AnnouncementStatus.SCHEDULED
        row.confirmed_by = confirmed_by
        # A broadcast confirmed late goes out now, not at the time it was typed.
        row.scheduled_for = max(row.scheduled_for, utcnow())
        view = to_view(row)
    scheduler.schedule_announcement(view.id, view.scheduled_for)
    return view


async def cancel(db: Database, scheduler: JobScheduler, announcement_id: int) -> AnnouncementView:
    """Cancel an announcement; deliveries not yet sent expire."""
    async with db.transaction() as session:
        row = await _get(session, announcement_id)
        if row.status not in OPEN_STATUSES:
            raise InputError(
                f"Announcement {announcement_id} is already {row.status.value}: "
                "only scheduled or sending announcements can be cancelled (see /queue)"
            )
        row.status = AnnouncementStatus.CANCELLED
        row.finished_at = utcnow()
        await _expire_unfinished(session, announcement_id, "cancelled")
        view = to_view(row)
    scheduler.unschedule_announcement(announcement_id)
    logger.info("Announcement cancelled: announcement_id=%s", announcement_id)
    return view


async def cancel_for_drop(db: Database, scheduler: JobScheduler, drop_id: int) -> list[int]:
    """Cancel every open reminder of a drop (the drop moved or was cancelled)."""
    async with db.transaction() as session:
        rows = (
            (
                await session.execute(
                    select(Announcement).where(
                        Announcement.drop_id == drop_id, Announcement.status.in_(OPEN_STATUSES)
                    )
                )
            )
            .scalars()
            .all()
        )
        ids = []
        for row in rows:
            row.status = AnnouncementStatus.CANCELLED
            row.finished_at = utcnow()
            await _expire_unfinished(session, row.id, "drop changed")
            ids.append(row.id)
    for announcement_id in ids:
        scheduler.unschedule_announcement(announcement_id)
    return ids


async def queue(db: Database) -> list[AnnouncementView]:
    """List announcements that are waiting, scheduled or being sent, with delivery counts."""
    async with db.transaction(readonly=True) as session:
        rows = (
            (
                await session.execute(
                    select(Announcement)
                    .where(Announcement.status.in_(OPEN_STATUSES))
                    .order_by(Announcement.scheduled_for, Announcement.id)
                )
            )
            .scalars()
            .all()
        )
        return [to_view(row, counts=await _counts(session, row.id)) for row in rows]


async def get(db: Database, announcement_id: int) -> AnnouncementView:
    async with db.transaction(readonly=True) as session:
        row = await _get(session, announcement_id)
        return to_view(row, counts=await _counts(session, row.id))


async def scheduled(db: Database) -> list[tuple[int, datetime]]:
    """Return (id, time) of every announcement waiting for its time."""
    async with db.transaction(readonly=True) as session:
        rows = await session.execute(
            select(Announcement.id, Announcement.scheduled_for).where(
                Announcement.status == AnnouncementStatus.SCHEDULED
            )
        )
        return [(row.id, row.scheduled_for) for row in rows]


async def progress_message(db: Database, announcement_id: int) -> int | None:
    """Return the id of the organiser group's progress message for an announcement."""
    async with db.transaction(readonly=True) as session:
        return await session.scalar(
            select(Announcement.progress_message_id).where(Announcement.id == announcement_id)
        )


async def set_progress_message(db: Database, announcement_id: int, message_id: int | None):
    async with db.transaction() as session:
        await session.execute(
            update(Announcement)
            .where(Announcement.id == announcement_id)
            .values(progress_message_id=message_id)
        )


async def count_recipients(db: Database, event_id: int) -> int:
    async with db.transaction(readonly=True) as session:
        return await _count_recipients(session, event_id)


async def delivery_counts(db: Database, event_id: int | None = None) -> dict[str, int]:
    async with db.transaction(readonly=True) as session:
        statement = select(Delivery.status, func.count()).group_by(Delivery.status)
        if event_id is not None:
            statement = statement.join(Announcement).where(Announcement.event_id == event_id)
        rows = (await session.execute(statement)).all()
        return {status.value: count for status, count in rows}


async def fan_out(db: Database, announcement_id: int, *, grace: timedelta) -> FanOut | None:
    """Write one delivery per subscribed, reachable attendee; run once per announcement.

    Returns None when the announcement is no longer scheduled (cancelled, or fanned out by an
    earlier run). A run later than `grace` marks the announcement missed instead of sending.
    """
    now = utcnow()
    async with db.transaction() as session:
        row = await session.get(Announcement, announcement_id, with_for_update=True)
        if row is None or row.status != AnnouncementStatus.SCHEDULED:
            return None
        late_by = max(now - row.scheduled_for, timedelta(0))
        if late_by > grace:
            row.status = AnnouncementStatus.MISSED
            row.finished_at = now
            logger.warning(
                "Announcement missed: announcement_id=%s late_by_s=%.0f grace_s=%.0f",
                announcement_id,
                late_by.total_seconds(),
                grace.total_seconds(),
            )
            return FanOut(announcement_id, 0, late_by, delayed=False, missed=True)
        # Anything later than a few seconds is worth telling the attendee about.
        row.delayed = late_by > timedelta(seconds=60)
        row.status = AnnouncementStatus.SENDING
        row.fanned_out_at = now
        count = await _insert_deliveries(session, row, now)
        await _publish_to_venue(session, row)
        if count == 0:
            row.status = AnnouncementStatus.DONE
            row.finished_at = now
    logger.info(
        "Announcement fanned out: announcement_id=%s deliveries=%s late_by_s=%.1f",
        announcement_id,
        count,
        late_by.total_seconds(),
    )
    return FanOut(announcement_id, count, late_by, delayed=row.delayed, missed=False)


async def catch_up(db: Database, attendee_id: int) -> int:
    """Queue the event's still-relevant announcements for an attendee who missed them.

    Covers both an attendee who subscribed after the announcement went out and one whose
    delivery found them unreachable at the time.
    """
    async with db.transaction() as session:
        attendee = await session.get(Attendee, attendee_id)
        if attendee is None:
            return 0
        return await catch_up_in(session, attendee)


async def catch_up_in(session: AsyncSession, attendee: Attendee) -> int:
    """Queue missed, still-relevant announcements for `attendee` in the caller's transaction."""
    [count] = await catch_up_many(session, [attendee])
    return count


async def catch_up_many(session: AsyncSession, attendees: Sequence[Attendee]) -> list[int]:
    """Queue missed announcements for several attendees; return how many for each, in order.

    An announcement is missed when the attendee's chat has no delivery of it yet, or one
    that found the chat unreachable. Two queries cover any number of attendees of one event.
    """
    now = utcnow()
    counts = [0] * len(attendees)
    waiting: dict[int, list[int]] = {}
    for index, attendee in enumerate(attendees):
        if attendee.chat_id is not None and attendee.subscribed:
            waiting.setdefault(attendee.event_id, []).append(index)
    for event_id, indexes in waiting.items():
        relevant = (
            await session.scalars(_catch_up_query(), {"event_id": event_id, "now": now})
        ).all()
        if not relevant:
            continue
        chat_ids = {attendees[index].chat_id for index in indexes}
        existing = await session.scalars(
            select(Delivery).where(
                Delivery.announcement_id.in_([row.id for row in relevant]),
                Delivery.chat_id.in_(sorted(chat_ids)),
            )
        )
        deliveries = {(row.announcement_id, row.chat_id): row for row in existing}
        for index in indexes:
            counts[index] = _catch_up_one(session, attendees[index], relevant, deliveries, now)
    return counts


def _catch_up_one(
    session: AsyncSession,
    attendee: Attendee,
    relevant: Sequence[Announcement],
    deliveries: dict[tuple[int, int | None], Delivery],
    now: datetime,
) -> int:
    count = 0
    for announcement in relevant:
        delivery = deliveries.get((announcement.id, attendee.chat_id))
        if delivery is None:
            delivery = Delivery(
                announcement_id=announcement.id,
                attendee_id=attendee.id,
                chat_id=attendee.chat_id,
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                parts_sent=0,
            )
            session.add(delivery)
            deliveries[(announcement.id, attendee.chat_id)] = delivery
        elif delivery.status == DeliveryStatus.UNREACHABLE:
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = now
            delivery.error = None
        else:
            continue
        count += 1
        if announcement.status == AnnouncementStatus.DONE:
            announcement.status = AnnouncementStatus.SENDING
            announcement.finished_at = None
    if count:
        logger.info("Announcements caught up: attendee_id=%s count=%s", attendee.id, count)
    return count


@functools.cache
def _catch_up_query() -> Select[tuple[Announcement]]:
    # Built once and run with parameters, because every /start runs it.
    return (
        select(Announcement)
        .where(
            Announcement.event_id == bindparam("event_id"),
            Announcement.status.in_(CATCH_UP_STATUSES),
            Announcement.relevant_until.is_(None)
            | (Announcement.relevant_until > bindparam("now")),
        )
        .order_by(Announcement.scheduled_for, Announcement.id)
    )


async def finish_if_complete(db: Database, announcement_id: int) -> dict[str, int] | None:
    """Mark a sending announcement done when no delivery is left; return the final counts."""
    async with db.transaction() as session:
        row = await session.get(Announcement, announcement_id)
        if row is None or row.status != AnnouncementStatus.SENDING:
            return None
        counts = await _counts(session, announcement_id)
        if any(counts.get(status.value, 0) for status in UNFINISHED_DELIVERIES):
            return None
        row.status = AnnouncementStatus.DONE
        row.finished_at = utcnow()
        return counts


async def counts_for(db: Database, announcement_id: int) -> dict[str, int]:
    async with db.transaction(readonly=True) as session:
        return await _counts(session, announcement_id)


async def _insert_deliveries(session: AsyncSession, row: Announcement, now: datetime) -> int:
    recipients = select(
        literal(row.id),
        Attendee.id,
        Attendee.chat_id,
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(now),
        literal(0),
        literal(now),
    ).where(
        Attendee.event_id == row.event_id,
        Attendee.subscribed.is_(True),
        Attendee.unreachable.is_(False),
        Attendee.chat_id.is_not(None),
        # A chat that caught this announcement up already has its row.
        Attendee.chat_id.not_in(
            select(Delivery.chat_id).where(Delivery.announcement_id == row.id)
        ),
    )
    columns = [
        "announcement_id",
        "attendee_id",
        "chat_id",
        "status",
        "attempts",
        "next_attempt_at",
        "parts_sent",
        "created_at",
    ]
    if row.kind == "reminder" and row.drop_id is not None:
        # Attendees who switched this drop's reminders off on its card.
        muted = select(DropReminder.attendee_id).where(
            DropReminder.drop_id == row.drop_id, DropReminder.enabled.is_(False)
        )
        recipients = recipients.where(Attendee.id.not_in(muted))
    result = await session.execute(Delivery.__table__.insert().from_select(columns, recipients))
    return result.rowcount or 0


async def _publish_to_venue(session: AsyncSession, row: Announcement) -> None:
    """Mirror the announcement to the venue: a beacon text and a printed slip with a QR."""
    event = await session.get(Event, row.event_id)
    assert event is not None
    # Beacon and slip links carry different arrival sources, so /export distinguishes them.
    # Beacons carry a short link because a t.me link does not fit in an Eddystone-URL frame.
    # The slip's QR code has room for the t.me deep link itself.
    row.short_link_code = await short_link_for(
        session, _event_start(event.id, links.ArrivalSource.BEACON)
    )
    # The job keeps everything the slip prints, so a /reprint of it prints the same slip.
    slip = {
        "layout": "announcement",
        "event_title": event.title,
        "time_zone": event.time_zone,
        "text": row.text,
        "start": _event_start(event.id, links.ArrivalSource.SLIP),
    }
    job = PrintJob(event_id=event.id, kind="slip", announcement_id=row.id, payload=slip)
    session.add(job)
    await session.flush()

    kind, drop_fields = await _venue_event_kind(session, row)
    await venue_feed.publish(
        session,
        kind,
        {
            **slip,
            **drop_fields,
            "announcement_id": row.id,
            "print_job_id": job.id,
            "kind": row.kind,
            "short_code": row.short_link_code,
        },
    )


def _event_start(event_id: int, source: links.ArrivalSource) -> str:
    # Event links are not signed, so no secret is needed to encode one.
    return links.encode(links.Link(links.LinkKind.EVENT, event_id, source), "")


async def _venue_event_kind(
    session: AsyncSession, row: Announcement
) -> tuple[str, dict[str, str]]:
    """Return the venue feed kind of an announcement and the drop fields that go with it."""
    if row.drop_id is None:
        return "announcement", {}
    drop = await session.get(Drop, row.drop_id)
    # A drop's reminders are scheduled before its start and its live announcement at it.
    if drop is None or row.scheduled_for < drop.starts_at:
        return "announcement", {}
    return "drop_live", {"title": drop.title, "starts_at": drop.starts_at.isoformat()}


async def _expire_unfinished(session: AsyncSession, announcement_id: int, reason: str) -> None:
    await session.execute(
        update(Delivery)
        .where(
            Delivery.announcement_id == announcement_id,
            Delivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.EXPIRED, error=reason)
    )


async def _get(session: AsyncSession, announcement_id: int) -> Announcement:
    row = await session.get(Announcement, announcement_id)
    if row is None:
        raise NotFoundError(
            f"Announcement {announcement_id} not found: see /queue for the current ids"
        )
    return row


async def _counts(session: AsyncSession, announcement_id: int) -> dict[str, int]:
    rows = (
        await session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.announcement_id == announcement_id)
            .group_by(Delivery.status)
        )
    ).all()
    return {status.value: count for status, count in rows}


async def _count_recipients(session: AsyncSession, event_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(Attendee)
            .where(
                Attendee.event_id == event_id,
                Attendee.subscribed.is_(True),
                Attendee.unreachable.is_(False),
                Attendee.chat_id.is_not(None),
            )
        )
        or 0
    )


def _default_relevance(event: Event, when: datetime) -> datetime:
    if event.ends_at and event.ends_at > when:
        return event.ends_at
    return when + DEFAULT_RELEVANCE
