"""The end of the night: wait until everything settled, then gather the figures and the verdict."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import (
    Announcement,
    AnnouncementStatus,
    Delivery,
    DeliveryStatus,
    HardwareEvent,
    PrintJob,
    PrintStatus,
    ProcessedUpdate,
    Venue,
)
from bot.rehearsal.arrivals import Arrivals
from bot.rehearsal.checks import check_night
from bot.rehearsal.clock import NightClock
from bot.rehearsal.crowd import Crowd
from bot.rehearsal.deliveries import DeliveryLedger, reconcile
from bot.rehearsal.faults import FaultInjector
from bot.rehearsal.figures import (
    NightInputs,
    attendee_figures,
    claim_figures,
    delivery_figures,
    limit_figures,
    receipt_figures,
    venue_figures,
)
from bot.rehearsal.options import RehearsalOptions
from bot.rehearsal.organiser import Organiser
from bot.rehearsal.records import NightRecords
from bot.rehearsal.script import CLOSE_AT, NightScript
from bot.rehearsal.stage import Stage
from bot.rehearsal.timeline import Timeline, plural
from bot.rehearsal.venue import VenueRig

logger = logging.getLogger(__name__)

SETTLE_TIMEOUT_S = 45.0
# Maximum wait for announcements to be marked done after their deliveries settled.
DONE_MARK_WAIT_S = 15.0


@dataclass
class NightResult:
    figures: dict[str, Any]
    # Per-second send counts and markers for the report's plot.
    series: dict[str, Any]


async def unfinished_updates(monitor: Database, names: dict[int, str]) -> list[str]:
    """Name the updates the bot received but whose handlers have not finished."""
    async with monitor.transaction(readonly=True) as session:
        rows = await session.scalars(
            select(ProcessedUpdate.update_id).where(ProcessedUpdate.handled_at.is_(None))
        )
        return [names.get(update_id, f"update {update_id}") for update_id in rows]


@dataclass(frozen=True)
class Settled:
    """How long after close the night took to settle, and what was still unsettled."""

    seconds: float
    waiting: list[str]


async def settle(
    monitor: Database, venue: VenueRig, timeline: Timeline, closed_at: float
) -> Settled:
    """Wait until deliveries, announcements, prints, the venue feed and the beacons are done.

    `closed_at` is the monotonic time of doors close, which the settle time is measured from,
    so time spent waiting for the night's tasks after close counts too.
    """
    waiting: list[str] = []
    while time.monotonic() - closed_at < SETTLE_TIMEOUT_S:
        waiting = await _still_waiting(monitor, venue)
        if not waiting:
            elapsed = time.monotonic() - closed_at
            timeline.add("bot", f"Everything settled {elapsed:.1f} s after doors closed")
            await _await_done_marks(monitor, timeline)
            return Settled(elapsed, [])
        await asyncio.sleep(0.25)
    # One more look, because the night's tasks may have used up the whole timeout.
    waiting = await _still_waiting(monitor, venue)
    elapsed = time.monotonic() - closed_at
    if not waiting:
        timeline.add("bot", f"Everything settled {elapsed:.1f} s after doors closed")
        return Settled(elapsed, [])
    timeline.add(
        "problem", f"Not settled {SETTLE_TIMEOUT_S:.0f} s after close: {', '.join(waiting)}"
    )
    return Settled(elapsed, waiting)


async def _await_done_marks(monitor: Database, timeline: Timeline) -> None:
    """Give the bot time to mark announcements done whose deliveries all settled.

    The bot's progress reporter marks them one at a time, each after a final message in the
    organiser group, whose 20-a-minute limit can hold the mark back well after the deliveries.
    The report reads the status after this wait, so it shows the final state when it came.
    """
    deadline = time.monotonic() + DONE_MARK_WAIT_S
    sending = await _sending_announcements(monitor)
    while sending and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        sending = await _sending_announcements(monitor)
    if sending:
        timeline.add(
            "bot",
            f"{plural(sending, 'announcement', 'announcements')} with every delivery settled "
            f"still marked sending {DONE_MARK_WAIT_S:.0f} s later (the progress message waits "
            "for the organiser group's limit)",
        )


async def _sending_announcements(monitor: Database) -> int:
    async with monitor.transaction(readonly=True) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Announcement)
            .where(Announcement.status == AnnouncementStatus.SENDING)
        )
    return count or 0


async def _still_waiting(monitor: Database, venue: VenueRig) -> list[str]:
    async with monitor.transaction(readonly=True) as session:
        unsettled = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENDING)))
        )
        unprinted = await session.scalar(
            select(func.count()).select_from(PrintJob).where(PrintJob.status == PrintStatus.QUEUED)
        )
        latest = await session.scalar(select(func.max(HardwareEvent.id))) or 0
        acked = await session.scalar(select(func.max(Venue.acked_cursor))) or 0
    beacons = [
        record["address"]
        for record in venue.beacon_records()
        if record["event_id"] is not None and record["written_event_id"] != record["event_id"]
    ]
    waiting = []
    if unsettled:
        waiting.append(f"{plural(unsettled, 'delivery', 'deliveries')} unsettled")
    if unprinted:
        waiting.append(f"{plural(unprinted, 'print job', 'print jobs')} not reported printed")
    if acked < latest:
        waiting.append(f"venue feed {plural(latest - acked, 'event', 'events')} behind")
    if beacons:
        waiting.append(f"beacons not updated: {', '.join(beacons)}")
    return waiting


@dataclass
class Night:
    """Everything taking part in one rehearsal night, for reading the night back."""

    options: RehearsalOptions
    stage: Stage
    monitor: Database
    venue: VenueRig
    clock: NightClock
    timeline: Timeline
    script: NightScript
    organiser: Organiser
    arrivals: Arrivals
    crowd: Crowd
    faults: FaultInjector


async def collect(night: Night, settled: Settled, timing: dict[str, float]) -> NightResult:
    """Read the night back from the database, the emulator and the venue; check invariants."""
    records = await NightRecords.load(night.monitor)
    guests = night.crowd.guests
    ledger = reconcile(
        records, night.stage.emulator, night.clock, guests, night.script.expected_texts()
    )
    _add_announcement_entries(night.timeline, ledger, night.clock)

    inputs = NightInputs(
        records, ledger, night.stage.emulator, night.clock, guests, night.venue, night.script.stock
    )
    figures = _figures(inputs, night)
    figures["unsettled"] = settled.waiting
    figures["timing"] = {
        **timing,
        "speed": night.options.speed,
        "night_s": round(night.clock.offset(CLOSE_AT), 1),
    }

    expected = [
        *night.script.expected_texts(),
        *(f"reminder {m} min" for m in night.script.reminder_minutes),
        "drop live",
    ]
    invariants = check_night(figures, expected)
    figures["invariants"] = [invariant.as_dict() for invariant in invariants]
    figures["broken"] = [invariant.name for invariant in invariants if not invariant.held]
    figures["verdict"] = "fail" if figures["broken"] else "pass"
    figures["timeline"] = [entry.as_dict() for entry in night.timeline.sorted()]
    return NightResult(figures, _series(night.stage, ledger, night.clock, night.faults))


def _figures(inputs: NightInputs, night: Night) -> dict[str, Any]:
    """Lay out the figures: the headline numbers first, then the detail by topic."""
    limits = limit_figures(inputs)
    receipts = receipt_figures(inputs)
    venue_detail = venue_figures(inputs)
    arrivals = night.arrivals
    options = night.options
    return {
        "verdict": "",
        "broken": [],
        "attendees": len(inputs.guests),
        "announcements": len(inputs.records.announcements),
        "deliveries": delivery_figures(inputs),
        "http_429": limits["http_429"],
        "rate_vs_ceiling": limits["rate_vs_ceiling"],
        "claims": claim_figures(inputs),
        "receipts_printed": receipts["printed"],
        "beacon_writes": venue_detail["beacon_writes"],
        "attendee_detail": attendee_figures(inputs),
        "per_announcement": [item.as_dict(night.clock) for item in inputs.ledger.announcements],
        "limits": limits,
        "receipts": receipts,
        "venue": venue_detail,
        "faults": [record.as_dict() for record in night.faults.records],
        "organiser_steps": [asdict(step) for step in night.organiser.steps],
        "arrivals": {
            "poster_scanned": arrivals.poster_scanned,
            "short_links_resolved": arrivals.short_links_resolved,
            "used": dict(arrivals.used),
            "fell_back_to_poster": dict(arrivals.fallbacks),
        },
        "venue_problem": night.venue.problem,
        "options": {
            "attendees": options.attendees,
            "speed": options.speed,
            "faults": list(options.faults),
            "beacons": options.beacons,
            "printer": options.printer_uri(),
            "seed": options.seed,
        },
    }


def _add_announcement_entries(
    timeline: Timeline, ledger: DeliveryLedger, clock: NightClock
) -> None:
    for item in ledger.announcements:
        if item.fanned_out_at is not None:
            timeline.add(
                "bot",
                f"{item.name} fanned out "
                f"({plural(sum(item.counts.values()), 'delivery', 'deliveries')} by the end)",
                monotonic=clock.to_monotonic(item.fanned_out_at),
                live=False,
            )
        if item.accepted:
            timeline.add(
                "bot",
                f"{item.name}: last of "
                f"{plural(len(item.accepted), 'message', 'messages')} delivered",
                monotonic=max(item.accepted),
                live=False,
            )


def _series(
    stage: Stage, ledger: DeliveryLedger, clock: NightClock, faults: FaultInjector
) -> dict[str, Any]:
    """Count accepted sends per second after doors: announcement deliveries and the rest."""
    accepted = [send.at - clock.origin for send in stage.emulator.stats.accepted]
    deliveries = [at - clock.origin for at in ledger.delivery_times]
    length = int(max([*accepted, *deliveries, clock.offset(CLOSE_AT)])) + 1

    all_sends = [0] * length
    broadcast = [0] * length
    for at in accepted:
        if at >= 0:
            all_sends[int(at)] += 1
    for at in deliveries:
        if at >= 0:
            broadcast[int(at)] += 1

    markers = [
        (round(clock.to_monotonic(item.fanned_out_at) - clock.origin, 2), item.name)
        for item in ledger.announcements
        if item.fanned_out_at is not None
    ]
    windows = [
        (record.injected_at, record.lifted_at or record.injected_at, record.name)
        for record in faults.records
        if record.injected_at is not None
    ]
    limits = stage.emulator.limits
    return {
        "all": all_sends,
        "deliveries": broadcast,
        "ceiling": limits.global_per_s if limits else 30.0,
        "markers": markers,
        "faults": windows,
        "close_s": clock.offset(CLOSE_AT),
    }
