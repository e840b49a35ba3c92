"""The venue daemon while its uplink to the bot service is down: beacons and prints go on."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rig.bluez import GattLayout, MockBeacon, MockBluez
from rig.bot_server import BotServer
from rig.capture_printer import CapturePrinter
from rig.daemon_run import RunningDaemon, fast_config
from rig.escpos_parse import native_qr_payloads

from bot.services import venue_feed
from hardware import eddystone

pytestmark = pytest.mark.bluez

BEACON = "AA:BB:CC:DD:EE:01"
LONG_OUTAGE_S = 300.0
# Max seconds between the daemon's feed retries while the uplink is down.
UPLINK_RETRY_MAX_S = 5.0


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotServer]:
    server = BotServer(tmp_path)
    await server.create_tables()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def beacon(bluez: MockBluez) -> MockBeacon:
    layout = GattLayout(
        eddystone.CONFIG_SERVICE_UUID, ((eddystone.ADV_SLOT_DATA_UUID, ("write",)),)
    )
    return await bluez.add_beacon(BEACON, [layout])


@pytest.fixture
async def daemon(
    tmp_path: Path, bot: BotServer, beacon: MockBeacon, capture_printer: CapturePrinter
) -> AsyncIterator[None]:
    config = fast_config(
        bot.url,
        tmp_path,
        capture_printer.uri,
        f"{BEACON}=eddystone",
        uplink_retry_max=UPLINK_RETRY_MAX_S,
    )
    running = RunningDaemon(config)
    yield
    await running.shutdown()


async def announce(bot: BotServer, number: int) -> int:
    payload = {"event_title": "Night Market", "text": f"Announcement {number}"}
    return await bot.publish("announcement", {**payload, "start": f"e{number}-bc"})


async def frames(bluez: MockBluez, beacon: MockBeacon) -> list[str]:
    values = await bluez.written_values(beacon.chars[eddystone.ADV_SLOT_DATA_UUID])
    return [eddystone.parse_adv_slot_data(value) for value in values]


async def wait_until(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


def printed_codes(printer: CapturePrinter) -> Counter[bytes]:
    codes: Counter[bytes] = Counter()
    for job in printer.complete_jobs:
        start = job.find(b"Code: ")
        if start >= 0:
            codes[job[start + 6 : job.index(b"\n", start)]] += 1
    return codes


def slip_links(printer: CapturePrinter) -> list[str]:
    return [
        link
        for job in printer.complete_jobs
        if b"Code: " not in job
        for link in native_qr_payloads(job)
    ]


async def acked_cursor(bot: BotServer) -> int:
    [venue] = await venue_feed.overview(bot.db)
    return venue.acked_cursor


async def run_outage(
    outage_s: float,
    bot: BotServer,
    bluez: MockBluez,
    beacon: MockBeacon,
    printer: CapturePrinter,
) -> None:
    first = await announce(bot, 1)
    await printer.wait_for_jobs(1)

    async def beacon_shows_first() -> bool:
        return await frames(bluez, beacon) != []

    await wait_until(beacon_shows_first, 10)
    short_url = (await frames(bluez, beacon))[0]

    # A receipt reaches the daemon while its printer is off, so it is queued locally.
    await printer.refuse()
    queued_job, queued_event = await bot.publish_receipt("Q0")

    async def stored() -> bool:
        return await acked_cursor(bot) >= queued_event

    await wait_until(stored, 10)

    await bot.stop()
    cut_at = time.monotonic()
    await printer.start()
    # The daemon prints its queued receipt with the uplink down.
    await printer.wait_for_jobs(2, timeout=10)
    outage_jobs = [(await bot.publish_receipt(f"B{number}"))[0] for number in range(3)]
    second = await announce(bot, 2)
    await asyncio.sleep(outage_s - (time.monotonic() - cut_at))

    assert await frames(bluez, beacon) == [short_url]
    assert printed_codes(printer) == {b"Q0": 1}
    assert await bot.print_status(queued_job) == "queued"

    await bot.start()

    async def all_reported() -> bool:
        jobs = [queued_job, *outage_jobs]
        return [await bot.print_status(job) for job in jobs] == ["printed"] * 4

    await wait_until(all_reported, UPLINK_RETRY_MAX_S + 20)

    async def beacon_shows_second() -> bool:
        return len(await frames(bluez, beacon)) == 2

    await wait_until(beacon_shows_second, 10)
    await printer.wait_for_jobs(6)
    await asyncio.sleep(0.5)

    assert printed_codes(printer) == {b"Q0": 1, b"B0": 1, b"B1": 1, b"B2": 1}
    assert slip_links(printer) == [
        "https://t.me/micropop_bot?start=e1-bc",
        "https://t.me/micropop_bot?start=e2-bc",
    ]
    new_short_url = (await frames(bluez, beacon))[1]
    assert new_short_url != short_url
    assert await acked_cursor(bot) == second
    assert first < second


async def test_uplink_outage_loses_nothing(
    bot: BotServer,
    bluez: MockBluez,
    beacon: MockBeacon,
    capture_printer: CapturePrinter,
    daemon: None,
) -> None:
    await run_outage(3.0, bot, bluez, beacon, capture_printer)


@pytest.mark.long
@pytest.mark.timeout(LONG_OUTAGE_S + 120)
async def test_five_minute_uplink_outage(
    bot: BotServer,
    bluez: MockBluez,
    beacon: MockBeacon,
    capture_printer: CapturePrinter,
    daemon: None,
) -> None:
    await run_outage(LONG_OUTAGE_S, bot, bluez, beacon, capture_printer)
