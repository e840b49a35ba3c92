"""The night's export for reconciliation: attendees, claims, deliveries and prints as one CSV.

Every row starts with its record type, so a spreadsheet filter shows one kind at a time. Only
attendees who consented and did not ask to be forgotten appear with their name and Telegram
ids. Everyone else appears as an attendee number, so their claims and prints still add up.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Announcement, Attendee, Claim, Delivery, Drop, PrintJob
from bot.services.events import require_active_event

COLUMNS = [
    "record",
    "id",
    "attendee_id",
    "attendee",
    "telegram_user_id",
    "username",
    "item",
    "status",
    "code",
    "created_at",
    "finished_at",
    "detail",
]
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFile:
    filename: str
    data: bytes
    rows: dict[str, int]


@dataclass(frozen=True)
class _Person:
    name: str
    telegram_user_id: int | None
    username: str | None
    identified: bool


async def export_night(db: Database) -> ExportFile:
    """Build the active event's CSV export. Raises NotFoundError when no event is set up."""
    async with db.transaction() as session:
        event = await require_active_event(session)
        zone = ZoneInfo(event.time_zone)
        people = await _people(session, event.id)
        rows = [
            *await _attendee_rows(session, event.id),
            *await _claim_rows(session, event.id),
            *await _delivery_rows(session, event.id),
            *await _print_rows(session, event.id),
        ]
        event_id, created = event.id, event.created_at

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["record"]] = counts.get(row["record"], 0) + 1
        person = people.get(row.get("attendee_id"))  # type: ignore[arg-type]
        if person is not None:
            row["attendee"] = person.name
            if person.identified:
                row["telegram_user_id"] = person.telegram_user_id
                row["username"] = person.username
        writer.writerow([_cell(row.get(column), zone) for column in COLUMNS])
    # A BOM lets spreadsheet programs detect UTF-8, so names with accents read correctly.
    data = buffer.getvalue().encode("utf-8-sig")
    filename = f"micropop-event-{event_id}-{created.astimezone(zone):%Y-%m-%d}.csv"
    return ExportFile(filename=filename, data=data, rows=counts)


async def _people(session: AsyncSession, event_id: int) -> dict[int, _Person]:
    rows = await session.scalars(select(Attendee).where(Attendee.event_id == event_id))
    people = {}
    for row in rows:
        identified = _identified(row)
        people[row.id] = _Person(
            name=row.display_name if identified else f"attendee {row.id} (anonymised)",
            telegram_user_id=row.telegram_user_id,
            username=row.username,
            identified=identified,
        )
    return people


def _identified(row: Attendee) -> bool:
    return row.consent and row.forgotten_at is None and row.telegram_user_id is not None


async def _attendee_rows(session: AsyncSession, event_id: int) -> list[dict[str, object]]:
    rows = await session.scalars(
        select(Attendee).where(Attendee.event_id == event_id).order_by(Attendee.id)
    )
    result = []
    for row in rows:
        if not row.consent and row.forgotten_at is None:
            continue  # never consented: only their anonymised claims and deliveries appear
        if row.forgotten_at is not None:
            status = "forgotten"
        elif row.unreachable:
            status = "unreachable"
        else:
            status = "subscribed" if row.subscribed else "paused"
        result.append(
            {
                "record": "attendee",
                "id": row.id,
                "attendee_id": row.id,
                "item": row.arrival_source if _identified(row) else "",
                "status": status,
                "created_at": row.joined_at,
                "finished_at": row.forgotten_at,
            }
        )
    return result


async def _claim_rows(session: AsyncSession, event_id: int) -> list[dict[str, object]]:
    rows = await session.execute(
        select(Claim, Drop.title)
        .join(Drop, Drop.id == Claim.drop_id)
        .where(Drop.event_id == event_id)
        .order_by(Claim.created_at, Claim.id)
    )
    return [
        {
            "record": "claim",
            "id": claim.id,
            "attendee_id": claim.attendee_id,
            "item": f"drop {claim.drop_id}: {title}",
            "status": claim.status.value,
            "code": claim.code,
            "created_at": claim.created_at,
            "finished_at": claim.collected_at or claim.released_at,
            "detail": f"collected by {claim.collected_by}" if claim.collected_by else "",
        }
        for claim, title in rows
    ]


async def _delivery_rows(session: AsyncSession, event_id: int) -> list[dict[str, object]]:
    rows = await session.execute(
        select(Delivery, Announcement.kind)
        .join(Announcement, Announcement.id == Delivery.announcement_id)
        .where(Announcement.event_id == event_id)
        .order_by(Delivery.announcement_id, Delivery.id)
    )
    return [
        {
            "record": "delivery",
            "id": delivery.id,
            "attendee_id": delivery.attendee_id,
            "item": f"{kind} {delivery.announcement_id}",
            "status": delivery.status.value,
            "created_at": delivery.created_at,
            "finished_at": delivery.sent_at,
            "detail": _join(f"attempts {delivery.attempts}", delivery.error),
        }
        for delivery, kind in rows
    ]


async def _print_rows(session: AsyncSession, event_id: int) -> list[dict[str, object]]:
    rows = await session.execute(
        select(PrintJob, Claim.attendee_id)
        .outerjoin(Claim, Claim.id == PrintJob.claim_id)
        .where(PrintJob.event_id == event_id)
        .order_by(PrintJob.id)
    )
    result = []
    for job, attendee_id in rows:
        target = f"claim {job.claim_id}" if job.claim_id else ""
        if job.announcement_id:
            target = f"announcement {job.announcement_id}"
        reprint = f"reprint of {job.reprint_of}" if job.reprint_of else ""
        requested = f"requested by {job.requested_by}" if job.requested_by else ""
        result.append(
            {
                "record": "print",
                "id": job.id,
                "attendee_id": attendee_id,
                "item": _join(job.kind, target),
                "status": job.status.value,
                "created_at": job.created_at,
                "finished_at": job.printed_at,
                "detail": _join(reprint, requested),
            }
        )
    return result


def _join(*pieces: str | None) -> str:
    return ", ".join(piece for piece in pieces if piece)


def _cell(value: object, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text
