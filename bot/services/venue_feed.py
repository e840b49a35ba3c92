"""The venue feed: hardware events for venue daemons, their acks, status and printed jobs."""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import HardwareEvent, PrintJob, PrintStatus, Venue
from bot.db.types import utcnow
from bot.errors import InputError, NotFoundError
from bot.services.shortlinks import short_link_for

logger = logging.getLogger(__name__)

KINDS = ("announcement", "drop_live", "poster", "receipt", "reprint")
MAX_BATCH = 100

# Any fixed key works; it only has to differ from the project's other advisory locks.
_PUBLISH_LOCK_KEY = 0x6D70_6665_6564  # "mpfeed"

# Older field names that publishers may use, mapped to the names the venue daemon reads.
_ALIASES = {"event": "event_title", "link": "deep_link"}
# Payload fields from which the daemon's QR link comes, old names included.
_LINK_FIELDS = ("start", "deep_link", "link")
# The daemon's layout for each print job kind whose name differs from it.
_LAYOUTS = {"slip": "announcement"}


@dataclass(frozen=True)
class FeedEvent:
    id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class VenueOverview:
    name: str
    last_contact_at: datetime | None
    acked_cursor: int
    behind: int
    printer: dict[str, Any] | None
    beacons: list[dict[str, Any]]
    faults: list[str] = field(default_factory=list)


class FeedNotifier:
    """Wakes long-poll requests of this process when a published event is committed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        # Replace the event so waiters that start after this call wait for the next one.
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            pass


_notifiers: weakref.WeakKeyDictionary[Engine, FeedNotifier] = weakref.WeakKeyDictionary()


def notifier_for(db: Database) -> FeedNotifier:
    """Return the notifier of a database, creating it on first use."""
    return _notifiers.setdefault(db.engine.sync_engine, FeedNotifier())


async def publish(session: AsyncSession, kind: str, payload: dict[str, Any]) -> int:
    """Add a venue feed event in the caller's transaction and return its id (the cursor).

    The venue daemon reads these payload fields:
    - `event_title`, `time_zone`, and `text` for announcements and drops;
    - `title` and `starts_at` for drop_live and poster, `item`, `code` and `claimed_at` for
      receipts;
    - `print_job_id`, the PrintJob row to print and report printed;
    - `layout`: announcement, receipt or countdown, when the kind's default does not fit;
    - the link: `start` (a deep-link payload, which also gets a short link for beacons),
      `short_code`, or a ready `deep_link`.

    Raises:
        InputError: an unknown kind, or a `start` payload Telegram would reject.
    """
    (event_id,) = await publish_many(session, kind, [payload])
    return event_id


async def publish_many(
    session: AsyncSession, kind: str, payloads: list[dict[str, Any]]
) -> list[int]:
    """Add one venue feed event per payload in the caller's transaction; return their ids.

    The ids follow the order of `payloads`, and the events take one INSERT, so a claim rush
    publishes its receipts in one round trip. Payload fields and errors are those of `publish`.
    """
    if kind not in KINDS:
        raise InputError(f"hardware event kind {kind!r} is unknown: use one of {', '.join(KINDS)}")
    if not payloads:
        return []
    rows = [{"kind": kind, "payload": await _normalised(session, payload)} for payload in payloads]

    if session.bind.dialect.name == "postgresql":
        # Ids must become visible in id order, or a daemon's cursor could pass an event whose
        # transaction commits late. The lock is held until this transaction ends.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PUBLISH_LOCK_KEY}
        )
    connection = await session.connection()
    result = await connection.execute(
        insert(HardwareEvent).returning(HardwareEvent.id, sort_by_parameter_order=True), rows
    )
    event_ids = list(result.scalars().all())

    notifier = _notifiers.get(session.bind.sync_engine)
    if notifier is not None:
        sa_event.listen(
            session.sync_session, "after_commit", lambda _: notifier.notify(), once=True
        )
    if len(event_ids) == 1:
        logger.info("Hardware event published: event_id=%s kind=%s", event_ids[0], kind)
    else:
        logger.info(
            "Hardware events published: event_ids=%s..%s count=%s kind=%s",
            event_ids[0],
            event_ids[-1],
            len(event_ids),
            kind,
        )
    return event_ids


async def _normalised(session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
    data = dict(payload)
    for old, new in _ALIASES.items():
        if old in data and new not in data:
            data[new] = data.pop(old)
    if data.get("start") and not data.get("short_code"):
        data["short_code"] = await short_link_for(session, data["start"])
    return data


async def request_reprint(db: Database, print_job_id: int, requested_by: str) -> int:
    """Queue an explicit reprint of a print job, publish it and return the new job's id.

    Raises:
        NotFoundError: no print job has this id.
        InputError: the job stores no link for its QR code, so the daemon could not print it.
    """
    async with db.transaction() as session:
        original = await session.get(PrintJob, print_job_id)
        if original is None:
            raise NotFoundError(
                f"Print job {print_job_id} not found: list the job ids with /hardware"
            )
        if not any(original.payload.get(name) for name in _LINK_FIELDS):
            raise InputError(
                f"print job {print_job_id} stores no link for its QR code and cannot be "
                "reprinted: announce the text again to print a new slip"
            )
        copy = PrintJob(
            event_id=original.event_id,
            kind=original.kind,
            claim_id=original.claim_id,
            announcement_id=original.announcement_id,
            payload=dict(original.payload),
            reprint_of=original.id,
            requested_by=requested_by,
        )
        session.add(copy)
        await session.flush()
        layout = original.payload.get("layout") or _LAYOUTS.get(original.kind, original.kind)
        await publish(
            session, "reprint", {**original.payload, "layout": layout, "print_job_id": copy.id}
        )
        return copy.id


async def events_after(db: Database, cursor: int, limit: int = MAX_BATCH) -> list[FeedEvent]:
    async with db.transaction(readonly=True) as session:
        rows = await session.scalars(
            select(HardwareEvent)
            .where(HardwareEvent.id > cursor)
            .order_by(HardwareEvent.id)
            .limit(min(max(limit, 1), MAX_BATCH))
        )
        return [FeedEvent(row.id, row.kind, dict(row.payload), row.created_at) for row in rows]


async def latest_event_id(db: Database) -> int:
    async with db.transaction(readonly=True) as session:
        return await session.scalar(select(func.max(HardwareEvent.id))) or 0


async def touch(db: Database, venue: str) -> None:
    """Record that a venue daemon made contact now."""
    async with db.transaction() as session:
        row = await _locked_venue(session, venue)
        row.last_contact_at = utcnow()


async def ack(db: Database, venue: str, cursor: int) -> None:
    """Record that a venue stored every event up to `cursor`. A lower cursor changes nothing."""
    async with db.transaction() as session:
        row = await _locked_venue(session, venue)
        row.acked_cursor = max(row.acked_cursor, cursor)
        row.last_contact_at = utcnow()


async def mark_printed(db: Database, print_job_id: int) -> bool:
    """Mark a queued print job printed, or return False if it was printed, cancelled or unknown."""
    async with db.transaction() as session:
        result = await session.execute(
            update(PrintJob)
            .where(PrintJob.id == print_job_id, PrintJob.status == PrintStatus.QUEUED)
            .values(status=PrintStatus.PRINTED, printed_at=utcnow())
        )
    printed = result.rowcount == 1
    if printed:
        logger.info("Print job printed: print_job_id=%s", print_job_id)
    return printed


async def record_status(db: Database, venue: str, status: dict[str, Any]) -> list[str]:
    """Store a venue daemon's status and return alert texts for faults that began or ended.

    A fault (printer in error, a beacon in error, a reported problem) alerts once when it
    appears and once when it clears, however many status reports repeat it.
    """
    faults = _faults(status)
    async with db.transaction() as session:
        row = await _locked_venue(session, venue)
        previous = dict(row.status.get("faults", {}))
        row.status = {**status, "faults": faults}
        row.last_contact_at = utcnow()

    alerts = [
        f"Venue {venue}: {message}" for key, message in faults.items() if key not in previous
    ]
    alerts += [f"Venue {venue}: {_recovered(key)}" for key in previous if key not in faults]
    for alert in alerts:
        logger.warning("Hardware alert: venue=%s alert=%s", venue, alert)
    return alerts


async def overview(db: Database) -> list[VenueOverview]:
    """Return each known venue's last contact, feed lag, printer and beacon states."""
    latest = await latest_event_id(db)
    async with db.transaction(readonly=True) as session:
        rows = (await session.scalars(select(Venue).order_by(Venue.name))).all()
    return [
        VenueOverview(
            name=row.name,
            last_contact_at=row.last_contact_at,
            acked_cursor=row.acked_cursor,
            behind=max(latest - row.acked_cursor, 0),
            printer=row.status.get("printer"),
            beacons=list(row.status.get("beacons", [])),
            faults=list(row.status.get("faults", {}).values()),
        )
        for row in rows
    ]


def _faults(status: dict[str, Any]) -> dict[str, str]:
    faults: dict[str, str] = {}
    printer = status.get("printer")
    if isinstance(printer, dict) and printer.get("state") == "error":
        faults["printer"] = (
            f"printer {printer.get('uri', '')} is failing, {printer.get('queued', 0)} job(s) "
            f"waiting: {printer.get('last_error') or 'no detail'}"
        )
    for beacon in status.get("beacons") or []:
        if isinstance(beacon, dict) and beacon.get("state") == "error":
            address = beacon.get("address", "?")
            faults[f"beacon {address}"] = (
                f"beacon {address} cannot be written: {beacon.get('last_error') or 'no detail'}"
            )
    for problem in status.get("problems") or []:
        faults[f"problem {problem}"] = str(problem)
    return faults


def _recovered(key: str) -> str:
    if key == "printer":
        return "printer is working again"
    if key.startswith("beacon "):
        return f"{key} is written again"
    return f"resolved: {key.removeprefix('problem ')}"


async def _locked_venue(session: AsyncSession, name: str) -> Venue:
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(Venue).values(name=name, acked_cursor=0, status={}).on_conflict_do_nothing()
    )
    # FOR UPDATE serialises status reports of one venue on PostgreSQL. On SQLite, BEGIN
    # IMMEDIATE already serialises every writer.
    row = await session.scalar(select(Venue).where(Venue.name == name).with_for_update())
    assert row is not None
    return row
