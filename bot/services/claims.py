"""Claims on drops: outcomes, views, and the single claim insert used by waiting-list offers."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Claim, ClaimStatus, PrintJob
from bot.db.types import utcnow
from bot.services import venue_feed
from bot.services.drops import DropView
from bot.services.receipts import ReceiptLinks, hold_deadline, new_code

logger = logging.getLogger(__name__)


class ClaimOutcome(enum.StrEnum):
    CLAIMED = "claimed"
    REPLAYED = "replayed"  # the same request key was claimed before: same claim returned
    LIMIT_REACHED = "limit_reached"
    SOLD_OUT = "sold_out"
    NOT_STARTED = "not_started"
    CANCELLED = "cancelled"
    NOT_FOUND = "not_found"
    NOT_REGISTERED = "not_registered"
    NO_OFFER = "no_offer"  # a waiting-list offer that is gone or expired


@dataclass(frozen=True)
class ClaimView:
    id: int
    drop_id: int
    attendee_id: int
    seq: int
    code: str
    status: str
    created_at: datetime
    hold_expires_at: datetime | None


@dataclass(frozen=True)
class ClaimResult:
    """The decision on one press, with the drop and claim the front end needs for its reply."""

    outcome: ClaimOutcome
    drop: DropView | None = None
    claim: ClaimView | None = None
    # True for exactly one claim per drop: the one that took the last unit first.
    announce_sold_out: bool = False
    receipt_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (ClaimOutcome.CLAIMED, ClaimOutcome.REPLAYED)


async def claim(
    db: Database,
    *,
    drop_id: int,
    telegram_user_id: int,
    request_key: str,
    receipt_links: ReceiptLinks,
    now: datetime | None = None,
) -> ClaimResult:
    """Claim one unit of a drop for the attendee of that user, at most once per request key.

    Exact under any concurrency, on one process or many: the unit is taken by a conditional
    UPDATE of the drop row (`remaining >= units taken`) in the same transaction as the claim
    row, and the unique (drop, attendee, seq) and request-key constraints cap each person and
    each press. Presses arriving together share one transaction (see `claim_desk`).
    """
    from bot.services.claim_desk import Press, desk_for

    press = Press(drop_id, telegram_user_id, request_key, now or utcnow(), receipt_links)
    return await desk_for(db).submit(press)


def receipt_print_payload(
    event_title: str,
    item: str,
    code: str,
    claimed_at: datetime,
    link: str,
    time_zone: str = "UTC",
) -> dict[str, str]:
    """Build what the venue printer needs for a receipt slip; times print in `time_zone`."""
    return {
        "event": event_title,
        "time_zone": time_zone,
        "item": item,
        "code": code,
        "claimed_at": claimed_at.isoformat(),
        "link": link,
    }


async def count_claims(session: AsyncSession, drop_id: int, attendee_id: int) -> int:
    """Count an attendee's claims of a drop; released ones count too, so seq stays unique."""
    return (
        await session.scalar(
            select(func.count())
            .select_from(Claim)
            .where(Claim.drop_id == drop_id, Claim.attendee_id == attendee_id)
        )
        or 0
    )


async def insert_claim(
    session: AsyncSession,
    drop: DropView,
    attendee_id: int,
    seq: int,
    request_key: str,
    event_title: str,
    receipt_links: ReceiptLinks,
    now: datetime,
) -> Claim:
    """Insert a claim with a fresh code and queue its receipt print job in the same transaction."""
    row = Claim(
        drop_id=drop.id,
        attendee_id=attendee_id,
        seq=seq,
        code=new_code(),
        request_key=request_key,
        status=ClaimStatus.HELD,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    url = receipt_links.url(row.id)
    payload = receipt_print_payload(event_title, drop.title, row.code, now, url)
    job = PrintJob(event_id=drop.event_id, kind="receipt", claim_id=row.id, payload=payload)
    session.add(job)
    await session.flush()
    await venue_feed.publish(
        session, "receipt", {**payload, "print_job_id": job.id, "layout": "receipt"}
    )
    return row


def claim_view(row: Claim, hold_minutes: int | None) -> ClaimView:
    status = ClaimStatus(row.status)
    return ClaimView(
        id=row.id,
        drop_id=row.drop_id,
        attendee_id=row.attendee_id,
        seq=row.seq,
        code=row.code,
        status=status.value,
        created_at=row.created_at,
        hold_expires_at=(
            hold_deadline(row.created_at, hold_minutes) if status == ClaimStatus.HELD else None
        ),
    )
