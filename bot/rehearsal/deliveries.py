"""Announcement deliveries seen from both sides: the bot's outbox rows and Telegram's messages.

A delivery counts as delivered only when the emulator contains the message its row names,
and as lost when it is neither delivered nor accounted for (unreachable, expired).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.emulator import BotAPIEmulator
from bot.rehearsal.clock import NightClock
from bot.rehearsal.crowd import Guest
from bot.rehearsal.records import AnnouncementRow, DeliveryRow, NightRecords

TELEGRAM_GLOBAL_PER_S = 30.0
UNSETTLED = ("pending", "sending")


@dataclass
class AnnouncementFigures:
    id: int
    name: str
    kind: str
    night: str
    status: str
    counts: dict[str, int]
    fanned_out_at: datetime | None = None
    accepted: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    duplicates: int = 0

    def as_dict(self, clock: NightClock) -> dict[str, Any]:
        rate = _rate(self.accepted)
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "scheduled": self.night,
            "status": self.status,
            "deliveries": self.counts,
            "sent": len(self.accepted),
            "first_sent_at_s": _round(min(self.accepted) - clock.origin)
            if self.accepted
            else None,
            "last_sent_at_s": _round(max(self.accepted) - clock.origin) if self.accepted else None,
            "rate_per_s": _round(rate),
            "rate_vs_ceiling": _round(rate / TELEGRAM_GLOBAL_PER_S) if rate else None,
            "latency_p50_s": _round(percentile(self.latencies, 0.50)),
            "latency_p99_s": _round(percentile(self.latencies, 0.99)),
            "duplicates": self.duplicates,
        }


@dataclass
class DeliveryLedger:
    """Each announcement's deliveries matched against the messages the emulator accepted."""

    announcements: list[AnnouncementFigures]
    totals: Counter[str]
    lost: list[str]
    duplicates: int
    latencies: list[float]
    delivery_times: list[float]


def reconcile(
    records: NightRecords,
    emulator: BotAPIEmulator,
    clock: NightClock,
    guests: list[Guest],
    names: dict[str, str],
) -> DeliveryLedger:
    """Match every delivery row to the message Telegram accepted for it."""
    accepted = _accepted_messages(emulator)
    copies = _copies_per_chat(emulator)
    name_of = {text: name for name, text in names.items()}
    by_announcement: dict[int, list[DeliveryRow]] = defaultdict(list)
    for row in records.deliveries:
        by_announcement[row.announcement_id].append(row)

    figures, lost, totals = [], [], Counter[str]()
    duplicates = 0
    latencies: list[float] = []
    for announcement in sorted(records.announcements, key=lambda row: row.scheduled_for):
        rows = by_announcement.get(announcement.id, [])
        item = AnnouncementFigures(
            id=announcement.id,
            name=name_of.get(announcement.text) or _reminder_name(announcement),
            kind=announcement.kind,
            night=clock.label(clock.minute(clock.to_monotonic(announcement.scheduled_for))),
            status=announcement.status,
            counts=dict(Counter(row.status for row in rows)),
            fanned_out_at=announcement.fanned_out_at,
        )
        for row in rows:
            totals[row.status] += 1
            at = accepted.get((row.chat_id, row.message_id)) if row.message_id else None
            if row.status in UNSETTLED or row.status in ("failed", "uncertain"):
                lost.append(f"announcement {announcement.id} to chat {row.chat_id}: {row.status}")
            elif row.status == "sent" and at is None:
                lost.append(f"announcement {announcement.id} to chat {row.chat_id}: no message")
            if at is not None and row.status == "sent":
                item.accepted.append(at)
                item.latencies.append(at - clock.to_monotonic(_due(announcement, row)))
            extra = copies[row.chat_id][announcement.text] - 1
            if extra > 0:
                item.duplicates += extra
        duplicates += item.duplicates
        latencies += item.latencies
        figures.append(item)

    lost += _missing_rows(records, guests)
    delivery_times = sorted(at for item in figures for at in item.accepted)
    return DeliveryLedger(figures, totals, lost, duplicates, latencies, delivery_times)


def _missing_rows(records: NightRecords, guests: list[Guest]) -> list[str]:
    """List announcements a guest who stayed subscribed and reachable never got a row for."""
    attendees = records.attendee_by_user()
    have = {(row.announcement_id, row.chat_id) for row in records.deliveries}
    missing = []
    for guest in guests:
        attendee = attendees.get(guest.user.id)
        if not guest.steady or attendee is None or attendee.chat_id is None:
            continue
        for announcement in records.announcements:
            if announcement.fanned_out_at is None or announcement.status not in (
                "sending",
                "done",
            ):
                continue
            relevant = announcement.relevant_until
            if relevant is not None and attendee.joined_at >= relevant:
                continue
            if (announcement.id, attendee.chat_id) not in have:
                missing.append(
                    f"announcement {announcement.id} never queued for chat {attendee.chat_id}"
                )
    return missing


def _due(announcement: AnnouncementRow, row: DeliveryRow) -> datetime:
    """When a delivery was due: the announcement's time, or its catch-up for a late arrival."""
    fanned = announcement.fanned_out_at
    if fanned is not None and row.created_at > fanned:
        return row.created_at
    return announcement.scheduled_for


def _accepted_messages(emulator: BotAPIEmulator) -> dict[tuple[int, int], float]:
    found: dict[tuple[int, int], float] = {}
    for call in emulator.calls:
        if call.method.lower() != "sendmessage" or not call.ok or call.fault:
            continue
        result = call.result or {}
        found[(result["chat"]["id"], result["message_id"])] = call.at
    return found


def _copies_per_chat(emulator: BotAPIEmulator) -> dict[int, Counter[str]]:
    """Count each text per chat, also without a first line (the "Delayed" mark)."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for chat_id, chat in emulator.state.chats.items():
        if chat.chat.type != "private":
            continue
        for message in chat.messages.values():
            text = message.get("text")
            if not text or not message.get("from", {}).get("is_bot"):
                continue
            counts[chat_id][text] += 1
            head, newline, rest = text.partition("\n")
            if newline and rest:
                counts[chat_id][rest] += 1
    return counts


def _reminder_name(announcement: AnnouncementRow) -> str:
    if announcement.kind != "reminder":
        return f"announcement {announcement.id}"
    if "live now" in announcement.text:
        return "drop live"
    minutes = announcement.text.split(" drops in ", 1)[-1].split(" min", 1)[0]
    return f"reminder {minutes} min" if minutes.isdigit() else "reminder"


def percentile(values: list[float], share: float) -> float | None:
    """Return the nearest-rank percentile of `values`, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _rate(times: list[float]) -> float | None:
    if len(times) < 2:
        return None
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
