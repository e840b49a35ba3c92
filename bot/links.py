"""Deep-link payloads: a compact codec for the link kinds, signed where a link grants anything.

Telegram passes `?start=<payload>` to the bot as `/start <payload>` and only allows 1 to 64
characters of `A-Za-z0-9_-`. A payload here is `<kind><id>` in base 36, optionally followed by
`-<source>` (where the link was printed or sent) and, for receipts, `_<signature>`. Nothing in a
payload is trusted: ids are looked up server-side, and a receipt payload is only valid with the
HMAC that the bot made for it.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from dataclasses import dataclass

from aiogram.utils.deep_linking import create_deep_link

from bot.db.types import MAX_ROW_ID

MAX_PAYLOAD = 64
PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# An id is base 36 without leading zeros, so each link has exactly one payload.
LINK_RE = re.compile(
    r"^(?P<kind>[emdr])(?P<id>0|[1-9a-z][0-9a-z]{0,5})(?:-(?P<source>[a-z]{1,8}))?$"
)
MAX_ID = MAX_ROW_ID
SIGNATURE_LENGTH = 12  # base64url characters: 72 bits of HMAC-SHA256


class LinkKind(enum.StrEnum):
    EVENT = "e"
    MAP = "m"
    DROP = "d"
    RECEIPT = "r"


class ArrivalSource(enum.StrEnum):
    QR = "qr"
    BEACON = "bc"
    SHARED = "sh"
    RECEIPT = "rc"
    SLIP = "sl"
    POSTER = "po"


SIGNED_KINDS = {LinkKind.RECEIPT}


class InvalidPayload(ValueError):
    """A start payload that is malformed, unknown or carries a wrong signature."""


@dataclass(frozen=True)
class Link:
    kind: LinkKind
    id: int
    source: str | None = None


def encode(link: Link, secret: str) -> str:
    """Encode a link as a start payload, signing it when its kind grants anything."""
    if link.id < 0:
        raise ValueError(f"link id {link.id} is negative: ids are row ids, 0 or more")
    if link.id > MAX_ID:
        raise ValueError(f"link id {link.id} is past the largest row id: use {MAX_ID} or less")
    body = f"{link.kind.value}{_to_base36(link.id)}"
    if link.source:
        body += f"-{link.source}"
    if link.kind in SIGNED_KINDS:
        body += "_" + sign(body, secret)
    if len(body) > MAX_PAYLOAD:
        raise ValueError(f"payload {body!r} has {len(body)} characters; Telegram allows 64")
    return body


def decode(payload: str, secret: str) -> Link:
    """Decode a start payload; raise InvalidPayload naming what is wrong."""
    if not PAYLOAD_RE.match(payload):
        raise InvalidPayload(
            f"payload of {len(payload)} characters is not 1-64 characters of A-Z a-z 0-9 _ -"
        )
    body, _, signature = payload.partition("_")
    match = LINK_RE.match(body)
    if match is None:
        raise InvalidPayload(f"payload {payload!r} is not a micropop link")
    kind = LinkKind(match["kind"])
    if int(match["id"], 36) > MAX_ID:
        raise InvalidPayload(f"payload {payload!r} names an id past the largest row id")
    if kind in SIGNED_KINDS:
        if not hmac.compare_digest(signature.encode(), sign(body, secret).encode()):
            raise InvalidPayload("payload signature does not match")
    elif signature:
        raise InvalidPayload(f"payload {payload!r} carries a signature its kind does not use")
    return Link(kind=kind, id=int(match["id"], 36), source=match["source"])


def sign(body: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SIGNATURE_LENGTH]


def deep_link(bot_username: str, payload: str) -> str:
    """Return the t.me link that opens the bot with `payload`, validated by aiogram."""
    return create_deep_link(bot_username, "start", payload)


def _to_base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if number == 0:
        return "0"
    out = []
    while number:
        number, rest = divmod(number, 36)
        out.append(digits[rest])
    return "".join(reversed(out))
