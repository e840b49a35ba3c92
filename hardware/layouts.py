"""Printable layouts (announcement slip, claim receipt, countdown poster) as plain blocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hardware.errors import HardwareError

Align = Literal["left", "center"]
Size = Literal["normal", "large", "huge"]

# Maximum length of a link in a printed QR code. Deep links stay under about 100 characters,
# and many printers' native QR accepts far less than the 2953 bytes of a version 40 code.
MAX_QR_DATA = 300


class InvalidJob(HardwareError):
    """A print job's payload lacks a field or contains a value no layout can print."""


@dataclass(frozen=True)
class Text:
    text: str
    size: Size = "normal"
    bold: bool = False
    align: Align = "left"


@dataclass(frozen=True)
class QR:
    data: str
    caption: str = ""


@dataclass(frozen=True)
class Rule:
    """A horizontal line across the paper."""


Block = Text | QR | Rule


@dataclass(frozen=True)
class Layout:
    """What one print job puts on paper, independent of the printer that prints it."""

    kind: str
    blocks: tuple[Block, ...]

    @property
    def qr_data(self) -> list[str]:
        return [block.data for block in self.blocks if isinstance(block, QR)]


def announcement_slip(event_title: str, text: str, link: str) -> Layout:
    """Lay out an announcement: event, text, and a QR code to open the bot."""
    return Layout(
        kind="announcement",
        blocks=(
            Text(event_title, size="large", bold=True, align="center"),
            Rule(),
            Text(text),
            Rule(),
            _qr(link, "Scan to open the bot"),
        ),
    )


def claim_receipt(
    event_title: str, item: str, code: str, claimed_at: datetime, link: str, time_zone: str
) -> Layout:
    """Lay out a claim receipt: item, claim code, time and a QR of the signed receipt link."""
    local = claimed_at.astimezone(_zone(time_zone))
    return Layout(
        kind="receipt",
        blocks=(
            Text(event_title, bold=True, align="center"),
            Rule(),
            Text(item, size="large", bold=True),
            Text(f"Code: {code}", size="large"),
            Text(f"Claimed {local:%Y-%m-%d %H:%M} ({time_zone})"),
            Rule(),
            _qr(link, "Show this at the counter"),
        ),
    )


def countdown_poster(
    event_title: str, drop_title: str, starts_at: datetime, link: str, time_zone: str
) -> Layout:
    """Lay out a countdown poster: drop title, start time in large type, QR to the drop."""
    local = starts_at.astimezone(_zone(time_zone))
    return Layout(
        kind="countdown",
        blocks=(
            Text(event_title, align="center"),
            Text(drop_title, size="large", bold=True, align="center"),
            Text("Drop opens at", align="center"),
            Text(f"{local:%H:%M}", size="huge", bold=True, align="center"),
            Text(f"{local:%Y-%m-%d} ({time_zone})", align="center"),
            _qr(link, "Scan to get notified"),
        ),
    )


def layout_for_job(kind: str, payload: dict[str, Any]) -> Layout:
    """Build the layout of a print job from its feed payload.

    The payload's `layout` field picks the layout; without it the event kind does
    (`announcement` prints a slip, `drop_live` and `poster` a countdown poster, `receipt` a
    receipt).

    Raises:
        InvalidJob: a required field is missing or malformed.
    """
    layout = payload.get("layout") or _DEFAULT_LAYOUTS.get(kind)
    link = _field(payload, "deep_link")
    event_title = str(payload.get("event_title", ""))
    time_zone = str(payload.get("time_zone") or "UTC")
    if layout == "announcement":
        return announcement_slip(event_title, _field(payload, "text"), link)
    if layout == "receipt":
        return claim_receipt(
            event_title,
            _field(payload, "item"),
            _field(payload, "code"),
            _timestamp(payload, "claimed_at"),
            link,
            time_zone,
        )
    if layout == "countdown":
        return countdown_poster(
            event_title,
            _field(payload, "title"),
            _timestamp(payload, "starts_at"),
            link,
            time_zone,
        )
    raise InvalidJob(
        f"print job of kind {kind!r} has layout {layout!r}: use announcement, receipt or countdown"
    )


_DEFAULT_LAYOUTS = {
    "announcement": "announcement",
    "drop_live": "countdown",
    "poster": "countdown",
    "receipt": "receipt",
}


def _qr(link: str, caption: str) -> QR:
    if not link or len(link) > MAX_QR_DATA:
        raise InvalidJob(
            f"QR link of {len(link)} characters: use a link of 1 to {MAX_QR_DATA} characters"
        )
    return QR(link, caption)


def _field(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidJob(f"print job payload field {name!r} is missing or empty: got {value!r}")
    return value


def _timestamp(payload: dict[str, Any], name: str) -> datetime:
    raw = _field(payload, name)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidJob(
            f"print job payload field {name!r} is {raw!r}: use an ISO 8601 timestamp"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidJob(
            f"time zone {name!r} is unknown: use an IANA name such as Europe/Berlin"
        ) from None
