"""The night's figures: attendees, deliveries, limits, claims, receipts, prints and beacons."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from bot.emulator import BotAPIEmulator
from bot.rehearsal.clock import NightClock
from bot.rehearsal.crowd import Guest
from bot.rehearsal.deliveries import DeliveryLedger, percentile
from bot.rehearsal.records import NightRecords
from bot.rehearsal.venue import VenueRig
from hardware.beacons import parse_beacons


@dataclass
class NightInputs:
    """Everything the figures are computed from, gathered after the night."""

    records: NightRecords
    ledger: DeliveryLedger
    emulator: BotAPIEmulator
    clock: NightClock
    guests: list[Guest]
    venue: VenueRig
    stock: int


def attendee_figures(inputs: NightInputs) -> dict[str, Any]:
    guests = inputs.guests
    attendees = inputs.records.attendees
    return {
        "simulated": len(guests),
        "arrived": sum(guest.arrived for guest in guests),
        "arrived_by": dict(Counter(guest.used for guest in guests if guest.arrived)),
        "planned_by": dict(Counter(guest.source for guest in guests)),
        "opened_map": sum(guest.opens_map and guest.arrived for guest in guests),
        "opened_drop": sum(guest.drop_card is not None for guest in guests),
        "subscribed": sum(row.subscribed for row in attendees),
        "paused": sum(guest.pauses and guest.arrived for guest in guests),
        "blocked": sum(guest.blocked for guest in guests),
        "unreachable": sum(row.unreachable for row in attendees),
        "unanswered_actions": sum(len(guest.unanswered) for guest in guests),
    }


def delivery_figures(inputs: NightInputs) -> dict[str, Any]:
    ledger = inputs.ledger
    totals = ledger.totals
    return {
        "total": sum(totals.values()),
        "sent": totals.get("sent", 0),
        "unreachable": totals.get("unreachable", 0),
        "expired": totals.get("expired", 0),
        "lost": len(ledger.lost),
        "duplicate": ledger.duplicates,
        "latency_p50_s": _round(percentile(ledger.latencies, 0.50)),
        "latency_p99_s": _round(percentile(ledger.latencies, 0.99)),
        "lost_examples": ledger.lost[:10],
    }


def limit_figures(inputs: NightInputs) -> dict[str, Any]:
    """Observed rates against Telegram's ceilings, and 429s split into injected and real."""
    emulator = inputs.emulator
    limits = emulator.limits
    stats = emulator.stats
    injected = sum(1 for call in emulator.calls if call.status == 429 and call.fault == "flood")
    global_ceiling = limits.global_per_s if limits else 30.0
    private_ceiling = limits.private_burst if limits else 1
    group_ceiling = limits.group_per_min if limits else 20.0

    max_global = stats.max_rate(window=1.0)
    max_private = stats.max_chat_rate(window=1.0, chat_type="private")
    max_group = stats.max_chat_rate(window=60.0, chat_type="supergroup")

    rejected = [
        {
            "at_s": round(call.at - inputs.clock.origin, 2),
            "method": call.method,
            "chat_id": call.chat_id,
            "retry_after": ((call.response or {}).get("parameters") or {}).get("retry_after"),
        }
        for call in emulator.calls
        if call.status == 429 and call.fault is None
    ]
    return {
        "http_429": stats.http_429,
        "http_429_injected": injected,
        "http_429_from_limits": stats.http_429 - injected,
        "max_sends_per_s": max_global,
        "ceiling_per_s": global_ceiling,
        "rate_vs_ceiling": round(max_global / global_ceiling, 3),
        "max_sends_per_private_chat_per_s": max_private,
        "min_private_chat_gap_s": _min_private_gap(stats.accepted),
        "ceiling_per_private_chat_per_s": private_ceiling,
        "max_sends_per_group_per_min": max_group,
        "ceiling_per_group_per_min": group_ceiling,
        "accepted_sends": len(stats.accepted),
        "rejected_by_limits": rejected[:20],
    }


def _min_private_gap(accepted: list[Any]) -> float | None:
    """Return the shortest time between two accepted sends to one private chat."""
    last: dict[int, float] = {}
    gaps = []
    for send in accepted:
        if send.chat_type != "private":
            continue
        if send.chat_id in last:
            gaps.append(send.at - last[send.chat_id])
        last[send.chat_id] = send.at
    return round(min(gaps), 3) if gaps else None


def claim_figures(inputs: NightInputs) -> dict[str, Any]:
    records = inputs.records
    claims = records.claims
    drop = records.drops[0] if records.drops else None
    per_attendee = Counter(claim.attendee_id for claim in claims)
    guests = inputs.guests
    sold_out_s = None
    if drop is not None and drop.sold_out_at is not None:
        sold_out_s = round((drop.sold_out_at - drop.starts_at).total_seconds(), 3)
    return {
        "stock": drop.stock if drop else inputs.stock,
        "claimed": len(claims),
        "remaining": drop.remaining if drop else None,
        "oversold": max(0, len(claims) - (drop.stock if drop else inputs.stock)),
        "max_per_person": max(per_attendee.values(), default=0),
        "per_person_limit": drop.per_person_limit if drop else None,
        "presses": sum(1 for guest in guests if guest.claim),
        "outcomes": dict(Counter(guest.claim for guest in guests if guest.claim)),
        "sold_out_after_s": sold_out_s,
    }


def receipt_figures(inputs: NightInputs) -> dict[str, Any]:
    """Receipts three ways: print jobs in the bot, prints at the venue, photos in Telegram."""
    records = inputs.records
    jobs = [job for job in records.print_jobs if job.kind == "receipt"]
    jobs_per_claim = Counter(job.claim_id for job in jobs)
    stored = [job for job in inputs.venue.stored_prints() if job.kind in ("receipt", "reprint")]
    printed_per_job = Counter(job.print_job_id for job in stored if job.status == "printed")
    photos = _receipt_photos(inputs)
    return {
        "claims": len(records.claims),
        "print_jobs": len(jobs),
        "printed": len(printed_per_job),
        "reported_printed": sum(1 for job in jobs if job.status == "printed"),
        "sent_in_telegram": sum(1 for count in photos.values() if count),
        "missing_in_telegram": sum(1 for count in photos.values() if not count),
        "duplicate_print_jobs": sum(count - 1 for count in jobs_per_claim.values() if count > 1),
        "duplicate_prints": sum(count - 1 for count in printed_per_job.values() if count > 1),
        "duplicate_photos": sum(count - 1 for count in photos.values() if count > 1),
    }


def venue_figures(inputs: NightInputs) -> dict[str, Any]:
    venue = inputs.venue
    stored = venue.stored_prints()
    records = venue.beacon_records()
    beacons = _beacon_figures(venue, records)
    return {
        "beacon_writes": sum(item["writes"] for item in beacons),
        "beacons": beacons,
        "beacon_records": records,
        "prints": dict(Counter(f"{job.kind}:{job.status}" for job in stored)),
        "print_failures": sum(job.attempts for job in stored),
        "previews": len(venue.previews()),
        "feed_events": inputs.records.latest_feed_event,
        "acked_cursor": max(inputs.records.venue_cursors.values(), default=0),
    }


def _beacon_figures(venue: VenueRig, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Describe each configured beacon.

    A simulated beacon reports the writes it received. A real one cannot be read back, so
    its writes are the GATT writes the daemon made without an error.
    """
    simulated = {beacon.address: beacon for beacon in venue.simulated_beacons}
    by_address = {record["address"]: record for record in records}
    beacons = []
    for spec in parse_beacons(venue.beacons):
        beacon = simulated.get(spec.address)
        record = by_address.get(spec.address) or {}
        beacons.append(
            {
                "address": spec.address,
                "profile": spec.profile,
                "simulated": beacon is not None,
                "writes": len(beacon.writes) if beacon else record.get("gatt_writes", 0),
                "connects": beacon.connects if beacon else None,
                "shows": beacon.shown() if beacon else None,
            }
        )
    return beacons


def _receipt_photos(inputs: NightInputs) -> dict[int, int]:
    """Count, per claim, the receipt photos in its owner's chat (matched by the claim code)."""
    chat_of = {row.id: row.chat_id for row in inputs.records.attendees}
    counts: dict[int, int] = {}
    for claim in inputs.records.claims:
        chat_id = chat_of.get(claim.attendee_id)
        chat = inputs.emulator.state.chats.get(chat_id) if chat_id else None
        messages = chat.messages.values() if chat else []
        counts[claim.id] = sum(
            1 for m in messages if "photo" in m and claim.code in (m.get("caption") or "")
        )
    return counts


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
