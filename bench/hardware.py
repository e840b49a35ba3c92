"""Benchmark the venue daemon on the mock rig: announcement to beacon write, claim to receipt.

Runs the whole bot service over a SQLite file against the local Bot API emulator, the venue
daemon, python-dbusmock's BlueZ on a private D-Bus and a capture printer, all on 127.0.0.1.
Each announcement goes through the bot's announcement service and scheduler, and each claim
through its claim service. Prints one line per measured series and the figures as one JSON
object on the last line.

    .venv/bin/python bench/hardware.py --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "hardware"))

from pydantic import SecretStr  # noqa: E402
from rig.bluez import INSTALL_HINT, BluezRig, GattLayout, MockBluez, missing_parts  # noqa: E402
from rig.capture_printer import CapturePrinter  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bot.db.models import Attendee  # noqa: E402
from bot.db.types import utcnow  # noqa: E402
from bot.rehearsal.stage import Stage  # noqa: E402
from bot.services import announcements, claims, drops, events  # noqa: E402
from bot.services.events import EventFields  # noqa: E402
from bot.services.receipts import ReceiptLinks  # noqa: E402
from hardware import eddystone  # noqa: E402
from hardware.config import DaemonConfig  # noqa: E402
from hardware.daemon import run_daemon  # noqa: E402

BEACON = "AA:BB:CC:DD:EE:01"
VENUE_TOKEN = "bench-hall-token-0123456789"
FIRST_GUEST = 7_200_000_000
# Lifts Telegram's default send limits, so no message the bot sends waits for a send slot.
FAST_RATES = {"rate_private_per_s": 100.0, "rate_group_per_min": 6000.0}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(int(round(fraction * (len(ordered) - 1))), len(ordered) - 1)
    return ordered[index]


async def measure(runs: int, directory: Path, rig: BluezRig) -> dict[str, object]:
    mock = await MockBluez.connect(rig.address)
    await mock.reset()
    layout = GattLayout(
        eddystone.CONFIG_SERVICE_UUID, ((eddystone.ADV_SLOT_DATA_UUID, ("write",)),)
    )
    beacon = await mock.add_beacon(BEACON, [layout])
    char_path = beacon.chars[eddystone.ADV_SLOT_DATA_UUID]
    writes = await mock.watch_calls("WriteValue")

    stage = Stage.on_sqlite(
        directory,
        venue_tokens=f"bench-hall:{VENUE_TOKEN}",
        public_base_url="https://popup.com",
        **FAST_RATES,
    )
    await stage.start()
    printer = CapturePrinter()
    await printer.start()
    config = DaemonConfig(
        bot_url=f"http://127.0.0.1:{stage.bot.web_port}",
        venue_token=SecretStr(VENUE_TOKEN),
        state_file=directory / "hardware.sqlite3",
        beacons=f"{BEACON}=eddystone",
        printer=printer.uri,
        poll_timeout=25,
        _env_file=None,
    )
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(config, stop=stop))

    try:
        beacon_times = await time_announcements(stage, runs, writes, char_path)
        # Every announcement also prints a slip, so receipts are counted after those.
        await printer.wait_for_jobs(runs, timeout=60)
        receipt_times = await time_claims(stage, runs, printer)
    finally:
        stop.set()
        await asyncio.wait_for(daemon, 15)
        await printer.stop()
        await stage.stop()
        await mock.close()

    return {
        "runs": runs,
        "beacon_write_p50_s": round(statistics.median(beacon_times), 4),
        "beacon_write_p95_s": round(percentile(beacon_times, 0.95), 4),
        "beacon_write_max_s": round(max(beacon_times), 4),
        "receipt_p50_s": round(statistics.median(receipt_times), 4),
        "receipt_p95_s": round(percentile(receipt_times, 0.95), 4),
        "receipt_max_s": round(max(receipt_times), 4),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
    }


async def time_announcements(
    stage: Stage, runs: int, writes: asyncio.Queue[tuple[str, float]], char_path: str
) -> list[float]:
    """Announce `runs` times; return the seconds from each announcement to its beacon write."""
    await events.create_event(stage.bot.db, EventFields(title="Bench night"))
    times: list[float] = []
    for run in range(runs):
        started = time.monotonic()
        await announcements.create(
            stage.bot.db, stage.bot.scheduler, text=f"Run {run}", created_by="bench"
        )
        while True:
            path, at = await asyncio.wait_for(writes.get(), 30)
            if path == char_path and at >= started:
                times.append(at - started)
                break
        await asyncio.sleep(0.05)
    return times


async def time_claims(stage: Stage, runs: int, printer: CapturePrinter) -> list[float]:
    """Claim `runs` units one at a time; return the seconds from each claim to its receipt."""
    db = stage.bot.db
    event = await events.active_event(db)
    assert event is not None
    guests = range(FIRST_GUEST, FIRST_GUEST + runs)
    rows = [
        {"event_id": event.id, "telegram_user_id": guest, "chat_id": guest} for guest in guests
    ]
    async with db.transaction() as session:
        await session.execute(insert(Attendee), rows)
    starts_at = utcnow() + timedelta(minutes=5)
    drop = await drops.create_drop(db, title="Bench tote", starts_at=starts_at, stock=runs)
    links = ReceiptLinks(stage.bot.settings.signing_secret.get_secret_value(), "micropop_bot")

    printed_before = len(printer.complete_jobs)
    times: list[float] = []
    for run, guest in enumerate(guests):
        started = time.monotonic()
        await claims.claim(
            db,
            drop_id=drop.id,
            telegram_user_id=guest,
            request_key=f"bench-{guest}",
            receipt_links=links,
            now=starts_at + timedelta(seconds=1),
        )
        await printer.wait_for_jobs(printed_before + run + 1, timeout=30)
        times.append(printer.jobs[-1].last_byte_at - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="announcements and receipts each")
    args = parser.parse_args()

    missing = missing_parts()
    if missing:
        sys.exit(f"mock BlueZ rig unavailable: {missing}. Fix: {INSTALL_HINT}")
    rig = BluezRig()
    rig.start()
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = rig.address
    try:
        with tempfile.TemporaryDirectory(prefix="micropop-bench-") as directory:
            figures = asyncio.run(measure(args.runs, Path(directory), rig))
    finally:
        rig.stop()
    for name, label in (
        ("beacon_write", "announcement to beacon write"),
        ("receipt", "claim to receipt bytes"),
    ):
        print(f"{label}: p50 {figures[name + '_p50_s']} s, p95 {figures[name + '_p95_s']} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
