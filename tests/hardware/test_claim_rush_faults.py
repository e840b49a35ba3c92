"""A claim rush while the venue printer and beacons fail: claims are exact and as fast as ever.

The real bot service serves the venue feed to the real venue daemon, whose printer is a capture
server on 127.0.0.1 and whose beacons are simulated. Claims only write rows, and the daemon
prints and writes beacons from the feed on its own time, so hardware faults must not reach them.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from rig.capture_printer import CapturePrinter
from rig.daemon_run import RunningDaemon, fast_config
from sqlalchemy import func, insert, select

from bot.db.models import Attendee, Claim, Drop
from bot.db.types import utcnow
from bot.rehearsal.stage import ORGANISER_CHAT_ID, Stage
from bot.services import announcements, claims, drops, events
from bot.services.claims import ClaimOutcome
from bot.services.events import EventFields
from bot.services.receipts import ReceiptLinks
from hardware import sim
from tests.figures import record

VENUE_TOKEN = "main-hall-token-0123456789"
PRESSES = 300
STOCK = 50
FIRST_GUEST = 7_500_000_000
BEACONS = "sim:door=eddystone,sim:bar=nus"
CODE_RE = re.compile(rb"Code: ([0-9A-Z]{6})")


@pytest.fixture
async def night(tmp_path: Path) -> AsyncIterator[Stage]:
    sim.registry.clear()
    stage = Stage.on_sqlite(
        tmp_path,
        venue_tokens=f"main-hall:{VENUE_TOKEN}",
        public_base_url="https://popup.com",
    )
    async with stage:
        event = await events.create_event(stage.bot.db, EventFields(title="Rush night"))
        rows = [
            {"event_id": event.id, "telegram_user_id": guest, "chat_id": guest, "language": "en"}
            for guest in range(FIRST_GUEST, FIRST_GUEST + PRESSES)
        ]
        async with stage.bot.db.transaction() as session:
            await session.execute(insert(Attendee), rows)
        yield stage
    sim.registry.clear()


@pytest.fixture
async def venue(tmp_path: Path, night: Stage, capture_printer: CapturePrinter):
    config = fast_config(
        f"http://127.0.0.1:{night.bot.web_port}",
        tmp_path,
        capture_printer.uri,
        BEACONS,
        status_interval=0.5,
        scan_timeout=5.0,
        connect_timeout=10.0,
        print_retry_max=0.5,
        beacon_retry_max=0.5,
        uplink_retry_max=0.5,
    )
    running = RunningDaemon(config)
    yield capture_printer
    await running.shutdown()


async def rush(stage: Stage, title: str) -> tuple[Counter[str], list[float], int]:
    """Press Claim for every guest at once; return outcomes, latencies and the drop id."""
    db = stage.bot.db
    starts_at = utcnow() + timedelta(minutes=1)
    drop = await drops.create_drop(db, title=title, starts_at=starts_at, stock=STOCK)
    links = ReceiptLinks(stage.bot.settings.signing_secret.get_secret_value(), "micropop_bot")
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []

    async def press(guest: int) -> None:
        started = time.perf_counter()
        result = await claims.claim(
            db,
            drop_id=drop.id,
            telegram_user_id=guest,
            request_key=f"{title}-{guest}",
            receipt_links=links,
            now=starts_at + timedelta(seconds=1),
        )
        latencies.append(time.perf_counter() - started)
        outcomes[result.outcome.value] += 1

    await asyncio.gather(*(press(guest) for guest in range(FIRST_GUEST, FIRST_GUEST + PRESSES)))
    return outcomes, latencies, drop.id


async def stock_of(stage: Stage, drop_id: int) -> tuple[int, int]:
    async with stage.bot.db.transaction() as session:
        claimed = await session.scalar(
            select(func.count()).select_from(Claim).where(Claim.drop_id == drop_id)
        )
        remaining = await session.scalar(select(Drop.remaining).where(Drop.id == drop_id))
    return claimed, remaining


async def claim_codes(stage: Stage) -> set[bytes]:
    async with stage.bot.db.transaction() as session:
        return {code.encode() for code in await session.scalars(select(Claim.code))}


def alerts(stage: Stage) -> list[str]:
    """Return the venue alerts the organiser group received, e.g. a failing printer."""
    return [
        message.get("text", "")
        for message in stage.emulator.messages(ORGANISER_CHAT_ID)
        if message.get("text", "").startswith("Venue main-hall:")
    ]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def test_claims_exact_while_printer_and_beacons_fail(night, venue):
    printer = venue
    healthy, healthy_latencies, _ = await rush(night, "Warm-up tee")

    await printer.refuse()
    for beacon in ("sim:door", "sim:bar"):
        sim.registry.get(beacon, "eddystone" if beacon == "sim:door" else "nus").available = False
    await announcements.create(
        night.bot.db, night.bot.scheduler, text="Drop is live", created_by="t"
    )
    # The organisers hear of both faults before the rush, so the rush runs while they last.
    await night.emulator.wait_for(lambda: len(alerts(night)) >= 3, timeout=30)
    outcomes, latencies, drop_id = await rush(night, "Rush tee")
    claimed, remaining = await stock_of(night, drop_id)

    record(
        "claim-rush-hardware-faults",
        presses=PRESSES,
        stock=STOCK,
        claimed=claimed,
        healthy_p50_ms=round(statistics.median(healthy_latencies) * 1000, 1),
        healthy_p95_ms=round(p95(healthy_latencies) * 1000, 1),
        faulty_p50_ms=round(statistics.median(latencies) * 1000, 1),
        faulty_p95_ms=round(p95(latencies) * 1000, 1),
    )
    assert outcomes == {ClaimOutcome.CLAIMED: STOCK, ClaimOutcome.SOLD_OUT: PRESSES - STOCK}
    assert healthy == outcomes
    assert (claimed, remaining) == (STOCK, 0)
    assert p95(latencies) < 2.0
    assert [alert for alert in alerts(night) if "again" in alert] == []


async def test_receipts_print_once_after_printer_returns(night, venue):
    printer = venue
    await printer.refuse()
    await rush(night, "Rush tee")
    await asyncio.sleep(1.0)

    await printer.start()
    jobs = await printer.wait_for_jobs(STOCK, timeout=60)
    await asyncio.sleep(1.0)

    printed = Counter(match for job in printer.complete_jobs for match in CODE_RE.findall(job))
    assert len(jobs) >= STOCK
    assert set(printed) == await claim_codes(night)
    assert set(printed.values()) == {1}
