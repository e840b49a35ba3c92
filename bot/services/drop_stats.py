"""Claim figures per drop and the claim list, for the organiser's stats and export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from bot.db.engine import Database
from bot.db.models import Attendee, Claim, ClaimStatus, Drop


@dataclass(frozen=True)
class DropStats:
    drop_id: int
    title: str
    status: str
    starts_at: datetime
    stock: int
    remaining: int
    held: int
    collected: int
    released: int
    sold_out_at: datetime | None


@dataclass(frozen=True)
class ClaimRecord:
    """One claim as exported: who claimed what, when, and whether it was collected."""

    claim_id: int
    drop_id: int
    drop_title: str
    attendee_id: int
    display_name: str
    code: str
    status: str
    claimed_at: datetime
    collected_at: datetime | None
    collected_by: str | None
    released_at: datetime | None


async def claims_per_drop(db: Database, event_id: int) -> list[DropStats]:
    """Count held, collected and released claims of every drop of an event."""

    def count(status: ClaimStatus):  # type: ignore[no-untyped-def]
        return func.coalesce(func.sum(case((Claim.status == status, 1), else_=0)), 0)

    statement = (
        select(
            Drop,
            count(ClaimStatus.HELD),
            count(ClaimStatus.COLLECTED),
            count(ClaimStatus.RELEASED),
        )
        .outerjoin(Claim, Claim.drop_id == Drop.id)
        .where(Drop.event_id == event_id)
        .group_by(Drop.id)
        .order_by(Drop.starts_at, Drop.id)
    )
    async with db.transaction() as session:
        rows = (await session.execute(statement)).all()
    return [
        DropStats(
            drop_id=drop.id,
            title=drop.title,
            status=drop.status.value,
            starts_at=drop.starts_at,
            stock=drop.stock,
            remaining=drop.remaining,
            held=int(held),
            collected=int(collected),
            released=int(released),
            sold_out_at=drop.sold_out_at,
        )
        for drop, held, collected, released in rows
    ]


async def list_claims(db: Database, event_id: int) -> list[ClaimRecord]:
    """List every claim of an event's drops in claim order."""
    statement = (
        select(Claim, Drop.title, Attendee.display_name)
        .join(Drop, Drop.id == Claim.drop_id)
        .join(Attendee, Attendee.id == Claim.attendee_id)
        .where(Drop.event_id == event_id)
        .order_by(Claim.created_at, Claim.id)
    )
    async with db.transaction() as session:
        rows = (await session.execute(statement)).all()
    return [
        ClaimRecord(
            claim_id=claim.id,
            drop_id=claim.drop_id,
            drop_title=title,
            attendee_id=claim.attendee_id,
            display_name=name,
            code=claim.code,
            status=claim.status.value,
            claimed_at=claim.created_at,
            collected_at=claim.collected_at,
            collected_by=claim.collected_by,
            released_at=claim.released_at,
        )
        for claim, title, name in rows
    ]
