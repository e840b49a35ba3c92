"""Short links: a stable 3-6 character code per deep-link payload, for beacons and paper."""

from __future__ import annotations

import hashlib
import logging
import re
import string

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import ShortLink
from bot.errors import InputError
from bot.settings import Settings

logger = logging.getLogger(__name__)

ALPHABET = string.ascii_letters + string.digits
CODE_RE = re.compile(r"^[A-Za-z0-9]{3,6}$")
# Telegram's limit for a start payload: 1-64 characters of A-Z a-z 0-9 _ -.
PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Codes grow from 3 to 6 characters only on a collision, so most links stay short enough
# for an Eddystone-URL frame (17 bytes for everything after the scheme).
CODE_LENGTHS = (3, 4, 5, 6)
# Salted 6-character candidates tried after those, for payloads that collide at every length.
SALTED_CANDIDATES = 20


async def short_link_for(session: AsyncSession, payload: str) -> str:
    """Return the short-link code of a start payload, creating it in the caller's transaction.

    The same payload always gets the same code: the candidates derive from its SHA-256 and
    the first one that is free or already maps to this payload wins.

    Raises:
        InputError: the payload is not 1-64 characters of A-Z a-z 0-9 _ -.
    """
    if not PAYLOAD_RE.match(payload):
        raise InputError(
            f"start payload {payload!r} is invalid: use 1-64 characters of A-Z a-z 0-9 _ -"
        )
    existing = await session.scalar(select(ShortLink.code).where(ShortLink.payload == payload))
    if existing is not None:
        return existing

    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    for code in _candidates(payload):
        # ON CONFLICT DO NOTHING: a concurrent transaction may insert the same code or
        # payload first, and the lookup below then tells whose it is.
        await session.execute(
            insert(ShortLink).values(code=code, payload=payload).on_conflict_do_nothing()
        )
        owner = await session.scalar(select(ShortLink.payload).where(ShortLink.code == code))
        if owner == payload:
            return code
        stored = await session.scalar(select(ShortLink.code).where(ShortLink.payload == payload))
        if stored is not None:
            return stored
    raise RuntimeError(f"no free short-link code for payload {payload!r}")


async def resolve(db: Database, code: str) -> str | None:
    """Return the start payload of a short-link code, or None for an unknown code."""
    if not CODE_RE.match(code):
        return None
    async with db.transaction(readonly=True) as session:
        return await session.scalar(select(ShortLink.payload).where(ShortLink.code == code))


def short_url(settings: Settings, code: str) -> str:
    return f"{settings.public_base_url}/l/{code}"


def deep_link_url(settings: Settings, payload: str) -> str:
    """Return the t.me link that opens the bot with a start payload."""
    return f"https://t.me/{settings.bot_username}?start={payload}"


def _candidates(payload: str) -> list[str]:
    digits = _base62(hashlib.sha256(payload.encode()).digest())
    candidates = [digits[:length] for length in CODE_LENGTHS]
    for salt in range(1, SALTED_CANDIDATES + 1):
        candidates.append(_base62(hashlib.sha256(f"{payload}#{salt}".encode()).digest())[:6])
    return candidates


def _base62(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rest = divmod(number, len(ALPHABET))
        out.append(ALPHABET[rest])
    return "".join(out)
