"""Limited drops: creation, edits and cancellation, reminders, and the drop list."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Drop, DropReminder, DropStatus, Event
from bot.db.types import utcnow
from bot.errors import InputError, NotFoundError
from bot.services import announcements, posters
from bot.services.announcements import JobScheduler
from bot.services.drop_stats import ClaimRecord, DropStats, claims_per_drop, list_claims
from bot.services.events import require_active_event

__all__ = [
    "ClaimRecord",
    "DropStats",
    "DropView",
    "cancel_drop",
    "claims_per_drop",
    "create_drop",
    "edit_drop",
    "get_drop",
    "list_claims",
    "list_drops",
]

logger = logging.getLogger(__name__)

MAX_TITLE = 200
# A drop card carries the title, the description and the person's claims in one message of at
# most 4096 characters, so the description gets a share that always leaves room for the rest.
MAX_DESCRIPTION = 1000
MAX_STOCK = 100_000
MAX_HOLD_MINUTES = 24 * 60
# Reminder offsets in minutes before T-0; callers pass the configured ones.
DEFAULT_REMINDER_MINUTES = (30, 10, 1)
# "Live now" is pointless for someone who reads it after the rush.
LIVE_NOW_RELEVANCE = timedelta(minutes=5)
EDITABLE = {
    "title",
    "description",
    "starts_at",
    "stock",
    "per_person_limit",
    "hold_minutes",
    "waitlist",
}


@dataclass(frozen=True)
class DropView:
    id: int
    event_id: int
    title: str
    description: str
    starts_at: datetime
    stock: int
    remaining: int
    per_person_limit: int
    status: str
    hold_minutes: int | None
    waitlist: bool
    sold_out_at: datetime | None
    status_message_id: int | None

    @property
    def cancelled(self) -> bool:
        return self.status == DropStatus.CANCELLED

    def is_live(self, now: datetime) -> bool:
        return not self.cancelled and self.starts_at <= now

    def time_left(self, now: datetime) -> timedelta:
        return max(self.starts_at - now, timedelta(0))


def to_view(row: Any) -> DropView:
    """Build a view from a Drop row or from a result row with the same column names."""
    return DropView(
        id=row.id,
        event_id=row.event_id,
        title=row.title,
        description=row.description,
        starts_at=row.starts_at,
        stock=row.stock,
        remaining=row.remaining,
        per_person_limit=row.per_person_limit,
        status=DropStatus(row.status).value,
        hold_minutes=row.hold_minutes,
        waitlist=row.waitlist,
        sold_out_at=row.sold_out_at,
        status_message_id=row.status_message_id,
    )


async def create_drop(
    db: Database,
    *,
    title: str,
    description: str = "",
    starts_at: datetime,
    stock: int | str,
    per_person_limit: int | str = 1,
    hold_minutes: int | str | None = None,
    waitlist: bool = False,
    scheduler: JobScheduler | None = None,
    reminder_minutes: Sequence[int] = DEFAULT_REMINDER_MINUTES,
    print_poster: bool = False,
    requested_by: str = "micropop",
) -> DropView:
    """Create a drop in the active event and schedule its reminders.

    With `print_poster`, a countdown poster of the drop is queued for the venue printer in the
    same transaction, recorded as requested by `requested_by`.

    Raises InputError naming the value and the accepted form. Without a scheduler the drop is
    stored but no reminder is scheduled.
    """
    values = {
        "title": _parse_title(title),
        "description": _parse_description(description),
        "stock": _parse_count("stock", stock, 1, MAX_STOCK, "50"),
        "per_person_limit": _parse_count("per-person limit", per_person_limit, 1, 100, "1"),
        "hold_minutes": _parse_hold(hold_minutes),
        "waitlist": bool(waitlist),
    }
    async with db.transaction() as session:
        event = await require_active_event(session)
        values["starts_at"] = _parse_start(starts_at, event.time_zone)
        row = Drop(event_id=event.id, remaining=values["stock"], **values)
        session.add(row)
        await session.flush()
        view = to_view(row)
        if print_poster:
            await posters.queue_poster(session, row, event, requested_by)
    logger.info(
        "Drop created: drop_id=%s event_id=%s stock=%s starts_at=%s poster=%s",
        view.id,
        view.event_id,
        view.stock,
        view.starts_at.isoformat(),
        print_poster,
    )
    await _schedule_reminders(db, scheduler, view, reminder_minutes)
    return view


async def edit_drop(
    db: Database,
    drop_id: int,
    *,
    scheduler: JobScheduler | None = None,
    reminder_minutes: Sequence[int] = DEFAULT_REMINDER_MINUTES,
    **fields: Any,
) -> DropView:
    """Change fields of a scheduled drop; a new start or title reschedules its reminders.

    A new stock moves `remaining` by the same amount, and is rejected when it is below what
    is already claimed.
    """
    unknown = set(fields) - EDITABLE
    if unknown:
        raise InputError(
            f"Unknown drop field {sorted(unknown)[0]!r}: use one of {', '.join(sorted(EDITABLE))}"
        )
    async with db.transaction() as session:
        row = await _require_drop(session, drop_id)
        if row.status == DropStatus.CANCELLED:
            raise InputError(f"Drop {drop_id} is cancelled: create a new drop instead")
        event = await session.get(Event, row.event_id)
        assert event is not None
        changes = _parse_changes(fields, row, event.time_zone)
        if "stock" in changes:
            await _change_stock(session, row, changes.pop("stock"))
        for name, value in changes.items():
            setattr(row, name, value)
        await session.flush()
        await session.refresh(row)
        view = to_view(row)
    logger.info("Drop edited: drop_id=%s fields=%s", drop_id, ",".join(sorted(fields)))
    if {"starts_at", "title"} & set(fields):
        await _cancel_reminders(db, scheduler, drop_id)
        await _schedule_reminders(db, scheduler, view, reminder_minutes)
    return view


async def cancel_drop(
    db: Database, drop_id: int, *, scheduler: JobScheduler | None = None
) -> DropView:
    """Cancel a drop: claim buttons stop working and pending reminders are cancelled.

    Claims already made stay as they are, for the organisers to settle.
    """
    async with db.transaction() as session:
        row = await _require_drop(session, drop_id)
        row.status = DropStatus.CANCELLED
        view = to_view(row)
    logger.info("Drop cancelled: drop_id=%s", drop_id)
    await _cancel_reminders(db, scheduler, drop_id)
    return view


async def list_drops(db: Database, event_id: int) -> list[DropView]:
    """List an event's drops, cancelled ones included, by start time."""
    async with db.transaction() as session:
        rows = await session.scalars(
            select(Drop).where(Drop.event_id == event_id).order_by(Drop.starts_at, Drop.id)
        )
        return [to_view(row) for row in rows]


async def get_drop(db: Database, drop_id: int) -> DropView | None:
    async with db.transaction() as session:
        row = await session.get(Drop, drop_id)
        return to_view(row) if row else None


async def set_status_message(db: Database, drop_id: int, message_id: int | None) -> None:
    """Store the id of the drop's pinned stock message in the organiser group."""
    async with db.transaction() as session:
        await session.execute(
            update(Drop).where(Drop.id == drop_id).values(status_message_id=message_id)
        )


async def _require_drop(session: AsyncSession, drop_id: int) -> Drop:
    row = await session.get(Drop, drop_id)
    if row is None:
        raise NotFoundError(f"Drop {drop_id} not found: list the drop ids with /listdrops")
    return row


async def _change_stock(session: AsyncSession, row: Drop, stock: int) -> None:
    claimed = row.stock - row.remaining
    if stock < claimed:
        raise InputError(
            f"Invalid stock {stock}: {claimed} are already claimed, so use {claimed} or more"
        )
    # One conditional statement, so a claim committed meanwhile is never overwritten.
    result = await session.execute(
        update(Drop)
        .where(Drop.id == row.id, Drop.remaining + (stock - Drop.stock) >= 0)
        .values(remaining=Drop.remaining + (stock - Drop.stock), stock=stock)
    )
    if not result.rowcount:
        raise InputError(f"Invalid stock {stock}: more were claimed meanwhile, try again")


def _parse_changes(fields: dict[str, Any], row: Drop, zone: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "title" in fields:
        changes["title"] = _parse_title(fields["title"])
    if "description" in fields:
        changes["description"] = _parse_description(str(fields["description"] or ""))
    if "starts_at" in fields and fields["starts_at"] != row.starts_at:
        changes["starts_at"] = _parse_start(fields["starts_at"], zone)
    if "stock" in fields:
        changes["stock"] = _parse_count("stock", fields["stock"], 1, MAX_STOCK, "50")
    if "per_person_limit" in fields:
        limit = fields["per_person_limit"]
        changes["per_person_limit"] = _parse_count("per-person limit", limit, 1, 100, "1")
    if "hold_minutes" in fields:
        changes["hold_minutes"] = _parse_hold(fields["hold_minutes"])
    if "waitlist" in fields:
        changes["waitlist"] = bool(fields["waitlist"])
    return changes


def _parse_title(title: str) -> str:
    cleaned = (title or "").strip()
    if not cleaned:
        raise InputError("Missing drop title: give the item a name, e.g. Tote bag")
    if len(cleaned) > MAX_TITLE:
        raise InputError(f"Invalid title of {len(cleaned)} characters: use 1-{MAX_TITLE}")
    return cleaned


def _parse_description(description: str) -> str:
    cleaned = description.strip()
    if len(cleaned) > MAX_DESCRIPTION:
        raise InputError(
            f"Invalid description of {len(cleaned)} characters: use {MAX_DESCRIPTION} or fewer"
        )
    return cleaned


def _parse_count(name: str, value: int | str, low: int, high: int, example: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.lstrip("-").isdigit() or not low <= int(text) <= high:
        raise InputError(
            f'Invalid {name} "{value}": use a whole number from {low} to {high}, e.g. {example}'
        )
    return int(text)


def _parse_hold(value: int | str | None) -> int | None:
    if value is None or str(value).strip().lower() in {"", "none", "off"}:
        return None
    return _parse_count("hold", value, 1, MAX_HOLD_MINUTES, "15 (minutes), or off")


def _parse_start(starts_at: datetime, zone: str) -> datetime:
    if not isinstance(starts_at, datetime) or starts_at.tzinfo is None:
        raise InputError(
            f'Invalid start "{starts_at}": pass a timezone-aware time, e.g. 2026-12-04 21:00 '
            f"in the event's time zone ({zone})"
        )
    if starts_at <= utcnow():
        shown = starts_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
        raise InputError(
            f'Invalid start "{shown}" ({zone}): it is in the past, so use a later time'
        )
    return starts_at


def reminder_text(title: str, minutes: int) -> str:
    """Return the text of a drop's reminder `minutes` before T-0.

    Announcements go out as plain text (to chats, beacons and printed slips), so the title is
    not marked up.
    """
    return f"⏰ {title} drops in {minutes} min. Open /drops to claim at T-0."


def live_text(title: str) -> str:
    """Return the text of the announcement at a drop's T-0."""
    return f"🔥 {title} is live now! Open /drops to claim yours."


async def _schedule_reminders(
    db: Database, scheduler: JobScheduler | None, drop: DropView, minutes: Sequence[int]
) -> None:
    if scheduler is None:
        logger.warning("Drop reminders not scheduled, no scheduler given: drop_id=%s", drop.id)
        return
    now = utcnow()
    for offset in sorted(set(minutes), reverse=True):
        when = drop.starts_at - timedelta(minutes=offset)
        if when <= now:
            continue
        # NOTE: announcements store one text for every attendee, so reminders are in English
        # until announcements carry a catalogue key instead of a text.
        await announcements.create(
            db,
            scheduler,
            text=reminder_text(drop.title, offset),
            created_by="micropop",
            scheduled_for=when,
            kind="reminder",
            drop_id=drop.id,
            relevant_until=drop.starts_at,
        )
    if drop.starts_at <= now:
        return
    await announcements.create(
        db,
        scheduler,
        text=live_text(drop.title),
        created_by="micropop",
        scheduled_for=drop.starts_at,
        kind="reminder",
        drop_id=drop.id,
        relevant_until=drop.starts_at + LIVE_NOW_RELEVANCE,
    )


async def _cancel_reminders(db: Database, scheduler: JobScheduler | None, drop_id: int) -> None:
    if scheduler is None:
        logger.warning("Drop reminders not cancelled, no scheduler given: drop_id=%s", drop_id)
        return
    cancelled = await announcements.cancel_for_drop(db, scheduler, drop_id)
    logger.info("Drop reminders cancelled: drop_id=%s count=%s", drop_id, len(cancelled))


async def set_reminder(db: Database, drop_id: int, attendee_id: int, enabled: bool) -> bool:
    """Store an attendee's reminder choice for one drop; return the stored choice."""
    async with db.transaction() as session:
        row = await session.scalar(
            select(DropReminder).where(
                DropReminder.drop_id == drop_id, DropReminder.attendee_id == attendee_id
            )
        )
        if row is None:
            session.add(DropReminder(drop_id=drop_id, attendee_id=attendee_id, enabled=enabled))
        else:
            row.enabled = enabled
            row.changed_at = utcnow()
        return enabled


def muted_attendees(drop_id: int):  # type: ignore[no-untyped-def]
    """Return a subquery of attendee ids that switched reminders off for a drop.

    The announcement fan-out excludes these from a reminder with this drop_id.
    """
    return select(DropReminder.attendee_id).where(
        DropReminder.drop_id == drop_id, DropReminder.enabled.is_(False)
    )
