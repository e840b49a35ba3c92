"""The bot's database after the night, read once into plain rows for the figures and checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import (
    Announcement,
    Attendee,
    Claim,
    Delivery,
    Drop,
    HardwareEvent,
    PrintJob,
    Venue,
)


@dataclass(frozen=True)
class AnnouncementRow:
    id: int
    kind: str
    text: str
    status: str
    scheduled_for: datetime
    fanned_out_at: datetime | None
    relevant_until: datetime | None
    drop_id: int | None


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    announcement_id: int
    attendee_id: int | None
    chat_id: int
    status: str
    attempts: int
    message_id: int | None
    created_at: datetime
    error: str | None


@dataclass(frozen=True)
class AttendeeRow:
    id: int
    telegram_user_id: int | None
    chat_id: int | None
    subscribed: bool
    unreachable: bool
    arrival_source: str
    joined_at: datetime


@dataclass(frozen=True)
class DropRow:
    id: int
    title: str
    stock: int
    remaining: int
    per_person_limit: int
    starts_at: datetime
    sold_out_at: datetime | None


@dataclass(frozen=True)
class ClaimRow:
    id: int
    drop_id: int
    attendee_id: int
    code: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class PrintJobRow:
    id: int
    kind: str
    claim_id: int | None
    announcement_id: int | None
    status: str
    reprint_of: int | None


@dataclass
class NightRecords:
    announcements: list[AnnouncementRow]
    deliveries: list[DeliveryRow]
    attendees: list[AttendeeRow]
    drops: list[DropRow]
    claims: list[ClaimRow]
    print_jobs: list[PrintJobRow]
    latest_feed_event: int
    venue_cursors: dict[str, int]

    @classmethod
    async def load(cls, db: Database) -> NightRecords:
        async with db.transaction(readonly=True) as session:

            async def rows(*columns):  # type: ignore[no-untyped-def]
                return (await session.execute(select(*columns))).all()

            announcements = [
                AnnouncementRow(r[0], r[1], r[2], r[3].value, *r[4:])
                for r in await rows(
                    Announcement.id,
                    Announcement.kind,
                    Announcement.text,
                    Announcement.status,
                    Announcement.scheduled_for,
                    Announcement.fanned_out_at,
                    Announcement.relevant_until,
                    Announcement.drop_id,
                )
            ]
            deliveries = [
                DeliveryRow(r[0], r[1], r[2], r[3], r[4].value, *r[5:])
                for r in await rows(
                    Delivery.id,
                    Delivery.announcement_id,
                    Delivery.attendee_id,
                    Delivery.chat_id,
                    Delivery.status,
                    Delivery.attempts,
                    Delivery.message_id,
                    Delivery.created_at,
                    Delivery.error,
                )
            ]
            attendees = [
                AttendeeRow(*r)
                for r in await rows(
                    Attendee.id,
                    Attendee.telegram_user_id,
                    Attendee.chat_id,
                    Attendee.subscribed,
                    Attendee.unreachable,
                    Attendee.arrival_source,
                    Attendee.joined_at,
                )
            ]
            drops = [
                DropRow(*r)
                for r in await rows(
                    Drop.id,
                    Drop.title,
                    Drop.stock,
                    Drop.remaining,
                    Drop.per_person_limit,
                    Drop.starts_at,
                    Drop.sold_out_at,
                )
            ]
            claims = [
                ClaimRow(r[0], r[1], r[2], r[3], r[4].value, r[5])
                for r in await rows(
                    Claim.id,
                    Claim.drop_id,
                    Claim.attendee_id,
                    Claim.code,
                    Claim.status,
                    Claim.created_at,
                )
            ]
            print_jobs = [
                PrintJobRow(r[0], r[1], r[2], r[3], r[4].value, r[5])
                for r in await rows(
                    PrintJob.id,
                    PrintJob.kind,
                    PrintJob.claim_id,
                    PrintJob.announcement_id,
                    PrintJob.status,
                    PrintJob.reprint_of,
                )
            ]
            latest = await session.scalar(select(func.max(HardwareEvent.id))) or 0
            cursors = {name: cursor for name, cursor in await rows(Venue.name, Venue.acked_cursor)}
        return cls(
            announcements, deliveries, attendees, drops, claims, print_jobs, latest, cursors
        )

    def attendee_by_user(self) -> dict[int, AttendeeRow]:
        return {row.telegram_user_id: row for row in self.attendees if row.telegram_user_id}
