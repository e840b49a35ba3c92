"""Receipts of claims: short codes, signed links, QR pictures, lookup and collection."""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import qrcode
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import links
from bot.db.engine import Database
from bot.db.models import Attendee, Claim, ClaimStatus, Drop, Event, MediaCache
from bot.db.types import utcnow

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L: a code is read aloud at the counter and typed from paper.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6


@dataclass(frozen=True)
class ReceiptLinks:
    """The signing secret and bot username from which receipt links are built."""

    secret: str
    bot_username: str

    def payload(self, claim_id: int) -> str:
        return links.encode(links.Link(links.LinkKind.RECEIPT, claim_id), self.secret)

    def url(self, claim_id: int) -> str:
        return links.deep_link(self.bot_username, self.payload(claim_id))


@dataclass(frozen=True)
class Receipt:
    claim_id: int
    code: str
    status: str
    drop_id: int
    drop_title: str
    event_title: str
    owner_user_id: int | None
    owner_name: str
    claimed_at: datetime
    hold_expires_at: datetime | None
    collected_at: datetime | None
    collected_by: str | None
    released_at: datetime | None

    @property
    def collected(self) -> bool:
        return self.status == ClaimStatus.COLLECTED


def new_code() -> str:
    """Return a random receipt code; uniqueness is the claims table's unique constraint."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def hold_deadline(created_at: datetime, hold_minutes: int | None) -> datetime | None:
    """Return when a held claim returns to stock, or None for a drop without holds."""
    if hold_minutes is None:
        return None
    return created_at + timedelta(minutes=hold_minutes)


def render_qr_png(text: str) -> bytes:
    """Render a QR code of `text` as a PNG; raises ValueError past the QR capacity."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def cached_file_id(db: Database, sha256: str) -> str | None:
    """Return the Telegram file id of a picture uploaded before, found by content hash."""
    async with db.transaction() as session:
        row = await session.get(MediaCache, sha256)
        return row.file_id if row else None


async def remember_file_id(db: Database, sha256: str, file_id: str) -> None:
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    async with db.transaction() as session:
        await session.execute(
            insert(MediaCache)
            .values(sha256=sha256, file_id=file_id)
            .on_conflict_do_nothing(index_elements=["sha256"])
        )


async def get_receipt(db: Database, claim_id: int) -> Receipt | None:
    async with db.transaction() as session:
        return await _load(session, Claim.id == claim_id)


async def find_receipt_by_code(db: Database, code: str) -> Receipt | None:
    """Find a receipt by the code printed on it, ignoring case and spaces."""
    cleaned = code.replace(" ", "").upper()
    async with db.transaction() as session:
        return await _load(session, Claim.code == cleaned)


async def mark_collected(
    db: Database, claim_id: int, *, by: str, now: datetime | None = None
) -> tuple[bool, Receipt | None]:
    """Mark a held claim collected; return (changed, receipt).

    Works once: a collected or released claim is left as it is and returned unchanged.
    """
    now = now or utcnow()
    async with db.transaction() as session:
        result = await session.execute(
            update(Claim)
            .where(Claim.id == claim_id, Claim.status == ClaimStatus.HELD)
            .values(status=ClaimStatus.COLLECTED, collected_at=now, collected_by=by[:300])
        )
        changed = bool(result.rowcount)
        receipt = await _load(session, Claim.id == claim_id)
    if changed:
        logger.info("Claim collected: claim_id=%s", claim_id)
    return changed, receipt


async def _load(session: AsyncSession, condition) -> Receipt | None:  # type: ignore[no-untyped-def]
    row = (
        await session.execute(
            select(Claim, Drop, Event.title, Attendee.telegram_user_id, Attendee.display_name)
            .join(Drop, Drop.id == Claim.drop_id)
            .join(Event, Event.id == Drop.event_id)
            .join(Attendee, Attendee.id == Claim.attendee_id)
            .where(condition)
        )
    ).first()
    if row is None:
        return None
    claim, drop, event_title, owner_user_id, owner_name = row
    return Receipt(
        claim_id=claim.id,
        code=claim.code,
        status=claim.status.value,
        drop_id=drop.id,
        drop_title=drop.title,
        event_title=event_title,
        owner_user_id=owner_user_id,
        owner_name=owner_name,
        claimed_at=claim.created_at,
        hold_expires_at=(
            hold_deadline(claim.created_at, drop.hold_minutes)
            if claim.status == ClaimStatus.HELD
            else None
        ),
        collected_at=claim.collected_at,
        collected_by=claim.collected_by,
        released_at=claim.released_at,
    )
