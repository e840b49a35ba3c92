"""Drops as shown to one attendee: the list for /drops and the card of one drop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Attendee, Claim, Drop, DropReminder, DropStatus, WaitlistEntry
from bot.db.types import utcnow
from bot.services.claims import ClaimView, claim_view
from bot.services.drops import DropView, to_view
from bot.services.events import active_event_row
from bot.services.events import to_view as event_view
from bot.services.views import EventView


@dataclass(frozen=True)
class WaitView:
    status: str
    offer_expires_at: datetime | None


@dataclass(frozen=True)
class DropCard:
    """A drop as shown to one attendee: stock, their own claims and their choices."""

    drop: DropView
    time_zone: str
    claims: tuple[ClaimView, ...]
    reminders_on: bool
    wait: WaitView | None
    registered: bool


@dataclass(frozen=True)
class DropOverview:
    event: EventView | None
    cards: tuple[DropCard, ...]


async def overview(
    db: Database, telegram_user_id: int, now: datetime | None = None
) -> DropOverview:
    """List the active event's upcoming and live drops with the attendee's own claims."""
    now = now or utcnow()
    async with db.transaction() as session:
        event = await active_event_row(session)
        if event is None:
            return DropOverview(event=None, cards=())
        rows = await session.scalars(
            select(Drop)
            .where(Drop.event_id == event.id, Drop.status == DropStatus.SCHEDULED)
            .order_by(Drop.starts_at, Drop.id)
        )
        attendee_id = await _attendee_id(session, event.id, telegram_user_id)
        cards = [await _card(session, row, event.time_zone, attendee_id) for row in rows.all()]
        return DropOverview(event=event_view(event), cards=tuple(cards))


async def card(db: Database, drop_id: int, telegram_user_id: int) -> DropCard | None:
    async with db.transaction() as session:
        row = await session.get(Drop, drop_id)
        if row is None:
            return None
        event = await active_event_row(session)
        zone = event.time_zone if event is not None and event.id == row.event_id else "UTC"
        attendee_id = await _attendee_id(session, row.event_id, telegram_user_id)
        return await _card(session, row, zone, attendee_id)


async def attendee_id_for(db: Database, drop_id: int, telegram_user_id: int) -> int | None:
    async with db.transaction() as session:
        row = await session.get(Drop, drop_id)
        if row is None:
            return None
        return await _attendee_id(session, row.event_id, telegram_user_id)


async def _attendee_id(session: AsyncSession, event_id: int, telegram_user_id: int) -> int | None:
    return await session.scalar(
        select(Attendee.id).where(
            Attendee.event_id == event_id, Attendee.telegram_user_id == telegram_user_id
        )
    )


async def _card(session: AsyncSession, row: Drop, zone: str, attendee_id: int | None) -> DropCard:
    drop = to_view(row)
    if attendee_id is None:
        return DropCard(drop, zone, (), reminders_on=True, wait=None, registered=False)
    claims = await session.scalars(
        select(Claim)
        .where(Claim.drop_id == row.id, Claim.attendee_id == attendee_id)
        .order_by(Claim.seq)
    )
    reminder = await session.scalar(
        select(DropReminder.enabled).where(
            DropReminder.drop_id == row.id, DropReminder.attendee_id == attendee_id
        )
    )
    entry = await session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.drop_id == row.id, WaitlistEntry.attendee_id == attendee_id
        )
    )
    return DropCard(
        drop=drop,
        time_zone=zone,
        claims=tuple(claim_view(claim, drop.hold_minutes) for claim in claims),
        reminders_on=reminder is not False,
        wait=WaitView(entry.status, entry.offer_expires_at) if entry else None,
        registered=True,
    )
