"""Holds and the waiting list: uncollected claims return to stock and pass to the next in line.

A claim on a drop with `hold_minutes` must be collected within that many minutes of being
made. So the hold of a claim made in the rush at T-0 ends N minutes after the drop. A
released unit goes to the oldest waiting entry as an offer that expires in turn, or back to
stock when nobody waits. While an offer is open its unit counts neither as claimed nor as
remaining, so the public rush cannot take it.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Attendee, Claim, ClaimStatus, Drop, DropStatus, Event, WaitlistEntry
from bot.db.types import utcnow
from bot.services.claims import (
    ClaimOutcome,
    ClaimResult,
    claim_view,
    count_claims,
    insert_claim,
)
from bot.services.drops import to_view
from bot.services.receipts import ReceiptLinks

logger = logging.getLogger(__name__)

# How long an offer stays open on a drop that has a waiting list but no hold time.
DEFAULT_OFFER_MINUTES = 10


class WaitStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    CLAIMED = "claimed"
    EXPIRED = "expired"


class JoinOutcome(enum.StrEnum):
    JOINED = "joined"
    ALREADY = "already"
    NOT_AVAILABLE = "not_available"  # no waiting list, stock left, or cancelled
    NOT_REGISTERED = "not_registered"


@dataclass(frozen=True)
class Notice:
    """Someone to tell about a hold change: whose chat, which drop, and until when."""

    chat_id: int | None
    language: str
    drop_id: int
    drop_title: str
    claim_id: int | None = None
    code: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class HoldExpiry:
    """The changes of one `expire_holds` run, for the front end to notify the people involved."""

    released: list[Notice] = field(default_factory=list)
    offers: list[Notice] = field(default_factory=list)
    expired_offers: list[Notice] = field(default_factory=list)
    restocked: dict[int, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.released or self.offers or self.expired_offers)


async def expire_holds(db: Database, now: datetime | None = None) -> HoldExpiry:
    """Release held claims past their hold, expire old offers and pass the units on.

    Called by the scheduler every 30 s. Each drop is settled in its own transaction under the
    drop's row lock, and every change is a conditional UPDATE, so two overlapping runs never
    release or offer the same unit twice.
    """
    now = now or utcnow()
    async with db.transaction() as session:
        drop_ids = list(
            await session.scalars(
                select(Drop.id).where(
                    Drop.status == DropStatus.SCHEDULED,
                    Drop.starts_at <= now,
                    Drop.hold_minutes.is_not(None) | Drop.waitlist.is_(True),
                )
            )
        )
    result = HoldExpiry()
    for drop_id in drop_ids:
        async with db.transaction() as session:
            await _settle_drop(session, drop_id, now, result)
    if not result.empty:
        logger.info(
            "Holds expired: released=%s offers=%s expired_offers=%s",
            len(result.released),
            len(result.offers),
            len(result.expired_offers),
        )
    return result


async def _settle_drop(
    session: AsyncSession, drop_id: int, now: datetime, result: HoldExpiry
) -> None:
    drop = await session.scalar(select(Drop).where(Drop.id == drop_id).with_for_update())
    if drop is None or drop.status != DropStatus.SCHEDULED:
        return
    freed = 0
    if drop.hold_minutes is not None:
        cutoff = now - timedelta(minutes=drop.hold_minutes)
        released = await session.execute(
            update(Claim)
            .where(
                Claim.drop_id == drop_id,
                Claim.status == ClaimStatus.HELD,
                Claim.created_at <= cutoff,
            )
            .values(status=ClaimStatus.RELEASED, released_at=now)
            .returning(Claim.id, Claim.attendee_id, Claim.code)
        )
        for claim_id, attendee_id, code in released.all():
            freed += 1
            result.released.append(
                await _notice(session, attendee_id, drop, claim_id=claim_id, code=code)
            )
    expired = await session.execute(
        update(WaitlistEntry)
        .where(
            WaitlistEntry.drop_id == drop_id,
            WaitlistEntry.status == WaitStatus.OFFERED,
            WaitlistEntry.offer_expires_at <= now,
        )
        .values(status=WaitStatus.EXPIRED)
        .returning(WaitlistEntry.attendee_id)
    )
    for (attendee_id,) in expired.all():
        freed += 1
        result.expired_offers.append(await _notice(session, attendee_id, drop))
    if not freed:
        return

    offered = await _offer(session, drop, freed, now, result) if drop.waitlist else 0
    if freed > offered:
        drop.remaining += freed - offered
        result.restocked[drop_id] = freed - offered
    logger.info(
        "Drop units freed: drop_id=%s freed=%s offered=%s remaining=%s",
        drop_id,
        freed,
        offered,
        drop.remaining,
    )


async def _offer(
    session: AsyncSession, drop: Drop, units: int, now: datetime, result: HoldExpiry
) -> int:
    minutes = drop.hold_minutes or DEFAULT_OFFER_MINUTES
    expires_at = now + timedelta(minutes=minutes)
    waiting = await session.scalars(
        select(WaitlistEntry)
        .where(WaitlistEntry.drop_id == drop.id, WaitlistEntry.status == WaitStatus.WAITING)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .limit(units)
    )
    count = 0
    for entry in waiting:
        entry.status = WaitStatus.OFFERED
        entry.offered_at = now
        entry.offer_expires_at = expires_at
        count += 1
        result.offers.append(
            await _notice(session, entry.attendee_id, drop, expires_at=expires_at)
        )
    return count


async def _notice(session: AsyncSession, attendee_id: int, drop: Drop, **extra) -> Notice:  # type: ignore[no-untyped-def]
    attendee = await session.get(Attendee, attendee_id)
    return Notice(
        chat_id=attendee.chat_id if attendee else None,
        language=attendee.language if attendee else "en",
        drop_id=drop.id,
        drop_title=drop.title,
        **extra,
    )


async def join_waitlist(
    db: Database, *, drop_id: int, telegram_user_id: int, now: datetime | None = None
) -> JoinOutcome:
    """Put an attendee on a sold-out drop's waiting list, once."""
    now = now or utcnow()
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(Drop, Attendee.id)
                .outerjoin(
                    Attendee,
                    and_(
                        Attendee.event_id == Drop.event_id,
                        Attendee.telegram_user_id == telegram_user_id,
                    ),
                )
                .where(Drop.id == drop_id)
            )
        ).first()
        if row is None:
            return JoinOutcome.NOT_AVAILABLE
        drop, attendee_id = row
        if attendee_id is None:
            return JoinOutcome.NOT_REGISTERED
        if not drop.waitlist or drop.status != DropStatus.SCHEDULED or drop.remaining > 0:
            return JoinOutcome.NOT_AVAILABLE
        inserted = await session.execute(
            insert(WaitlistEntry)
            .values(drop_id=drop_id, attendee_id=attendee_id, created_at=now, status="waiting")
            .on_conflict_do_nothing(index_elements=["drop_id", "attendee_id"])
        )
    if not inserted.rowcount:
        return JoinOutcome.ALREADY
    logger.info("Waiting list joined: drop_id=%s attendee_id=%s", drop_id, attendee_id)
    return JoinOutcome.JOINED


async def accept_offer(
    db: Database,
    *,
    drop_id: int,
    telegram_user_id: int,
    request_key: str,
    receipt_links: ReceiptLinks,
    now: datetime | None = None,
) -> ClaimResult:
    """Turn an open waiting-list offer into a claim; the unit was set aside, so no decrement."""
    now = now or utcnow()
    async with db.transaction() as session:
        replay = await session.scalar(select(Claim).where(Claim.request_key == request_key))
        drop_row = await session.scalar(select(Drop).where(Drop.id == drop_id).with_for_update())
        if drop_row is None:
            return ClaimResult(ClaimOutcome.NOT_FOUND)
        drop = to_view(drop_row)
        if replay is not None:
            view = claim_view(replay, drop.hold_minutes)
            url = receipt_links.url(replay.id)
            return ClaimResult(ClaimOutcome.REPLAYED, drop=drop, claim=view, receipt_url=url)
        found = (
            await session.execute(
                select(WaitlistEntry, Event.title)
                .join(Attendee, Attendee.id == WaitlistEntry.attendee_id)
                .join(Event, Event.id == Attendee.event_id)
                .where(
                    WaitlistEntry.drop_id == drop_id,
                    Attendee.telegram_user_id == telegram_user_id,
                    WaitlistEntry.status == WaitStatus.OFFERED,
                    WaitlistEntry.offer_expires_at > now,
                )
            )
        ).first()
        if found is None or drop.cancelled:
            outcome = ClaimOutcome.CANCELLED if drop.cancelled else ClaimOutcome.NO_OFFER
            return ClaimResult(outcome, drop=drop)
        entry, event_title = found
        held = await count_claims(session, drop_id, entry.attendee_id)
        if held >= drop.per_person_limit:
            # NOTE: the offer stays open and passes on when it expires.
            return ClaimResult(ClaimOutcome.LIMIT_REACHED, drop=drop)
        entry.status = WaitStatus.CLAIMED
        row = await insert_claim(
            session,
            drop,
            entry.attendee_id,
            held + 1,
            request_key,
            event_title,
            receipt_links,
            now,
        )
        view = claim_view(row, drop.hold_minutes)
    logger.info("Offer accepted: claim_id=%s drop_id=%s", view.id, drop_id)
    return ClaimResult(
        ClaimOutcome.CLAIMED, drop=drop, claim=view, receipt_url=receipt_links.url(view.id)
    )
