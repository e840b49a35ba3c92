"""Benchmark the venue daemon on the mock rig: publish to beacon write, publish to receipt bytes.

Runs the bot's feed routes over a SQLite file, the venue daemon, python-dbusmock's BlueZ on a
private D-Bus and a capture printer, all on 127.0.0.1. Prints one line per measured series and
the figures as one JSON object on the last line.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "hardware"))

from pydantic import SecretStr  # noqa: E402
from rig.bluez import INSTALL_HINT, BluezRig, GattLayout, MockBluez, missing_parts  # noqa: E402
from rig.bot_server import VENUE_TOKEN, BotServer  # noqa: E402
from rig.capture_printer import CapturePrinter  # noqa: E402

from hardware import eddystone  # noqa: E402
from hardware.config import DaemonConfig  # noqa: E402
from hardware.daemon import run_daemon  # noqa: E402

BEACON = "AA:BB:CC:DD:EE:01"


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

    bot = BotServer(directory)
    await bot.create_tables()
    await bot.start()
    printer = CapturePrinter()
    await printer.start()
    config = DaemonConfig(
        bot_url=bot.url,
        venue_token=SecretStr(VENUE_TOKEN),
        state_file=directory / "hardware.sqlite3",
        beacons=f"{BEACON}=eddystone",
        printer=printer.uri,
        poll_timeout=25,
        _env_file=None,
    )
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(config, stop=stop))

    beacon_times: list[float] = []
    receipt_times: list[float] = []
    try:
        for run in range(runs):
            started = time.monotonic()
            await bot.publish(
                "announcement", {"text": f"Run {run}", "start": f"e{run}-bc", "print": False}
            )
            while True:
                path, at = await asyncio.wait_for(writes.get(), 30)
                if path == char_path and at >= started:
                    beacon_times.append(at - started)
                    break
            await asyncio.sleep(0.05)

        for run in range(runs):
            started = time.monotonic()
            await bot.publish_receipt(f"R{run:03d}")
            await printer.wait_for_jobs(run + 1, timeout=30)
            receipt_times.append(printer.jobs[-1].last_byte_at - started)
    finally:
        stop.set()
        await asyncio.wait_for(daemon, 15)
        await printer.stop()
        await bot.close()
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
        ("beacon_write", "publish to beacon write"),
        ("receipt", "publish to receipt"),
    ):
        print(f"{label}: p50 {figures[name + '_p50_s']} s, p95 {figures[name + '_p95_s']} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
