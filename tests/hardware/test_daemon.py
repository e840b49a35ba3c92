"""End-to-end tests of the venue daemon against the real feed routes over HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from rig.bluez import GattLayout, MockBluez
from rig.bot_server import BotServer
from rig.capture_printer import CapturePrinter
from rig.daemon_run import RunningDaemon, fast_config
from rig.escpos_parse import native_qr_payloads

from bot.services import venue_feed
from hardware import eddystone
from hardware.beacons import NUS_RX_UUID, NUS_SERVICE_UUID
from hardware.config import DaemonConfig
from hardware.daemon import VenueDaemon, run_daemon
from hardware.errors import ConfigError
from hardware.feed_client import FeedEvent
from hardware.layouts import layout_for_job

EDDYSTONE_ADDRESS = "AA:BB:CC:DD:EE:01"
NUS_ADDRESS = "AA:BB:CC:DD:EE:02"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotServer]:
    server = BotServer(tmp_path)
    await server.create_tables()
    await server.start()
    yield server
    await server.close()


def daemon_config(tmp_path: Path, bot: BotServer, printer: str, beacons: str = "") -> DaemonConfig:
    return fast_config(bot.url, tmp_path, printer, beacons, status_interval=0.2)


@pytest.fixture
async def start_daemon() -> AsyncIterator[Callable[[DaemonConfig], RunningDaemon]]:
    running: list[RunningDaemon] = []

    def start(config: DaemonConfig) -> RunningDaemon:
        daemon = RunningDaemon(config)
        running.append(daemon)
        return daemon

    yield start
    for daemon in running:
        if not daemon.task.done():
            await daemon.shutdown()


async def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


@pytest.mark.bluez
async def test_announcement_reaches_beacons_and_printer(
    tmp_path: Path,
    bot: BotServer,
    bluez: MockBluez,
    capture_printer: CapturePrinter,
    start_daemon: Callable[[DaemonConfig], RunningDaemon],
) -> None:
    url_beacon = await bluez.add_beacon(
        EDDYSTONE_ADDRESS,
        [GattLayout(eddystone.CONFIG_SERVICE_UUID, ((eddystone.ADV_SLOT_DATA_UUID, ("write",)),))],
    )
    text_beacon = await bluez.add_beacon(
        NUS_ADDRESS, [GattLayout(NUS_SERVICE_UUID, ((NUS_RX_UUID, ("write",)),))]
    )
    beacons = f"{EDDYSTONE_ADDRESS}=eddystone,{NUS_ADDRESS}=nus"
    start_daemon(daemon_config(tmp_path, bot, capture_printer.uri, beacons))

    await bot.publish(
        "announcement", {"event_title": "Night Market", "text": "Doors open", "start": "e1-bc"}
    )
    [slip] = await capture_printer.wait_for_jobs(1)
    assert native_qr_payloads(slip) == ["https://t.me/micropop_bot?start=e1-bc"]

    async def beacons_written() -> bool:
        values = await bluez.written_values(url_beacon.chars[eddystone.ADV_SLOT_DATA_UUID])
        return bool(values) and bool(await bluez.written_values(text_beacon.chars[NUS_RX_UUID]))

    await wait_until(beacons_written)
    [frame] = await bluez.written_values(url_beacon.chars[eddystone.ADV_SLOT_DATA_UUID])
    short_url = eddystone.parse_adv_slot_data(frame)
    assert short_url.startswith("https://popup.com/l/")
    text = b"".join(await bluez.written_values(text_beacon.chars[NUS_RX_UUID]))
    assert text == b"Doors open\n"


@pytest.mark.bluez
async def test_beacon_takes_17_bytes_not_18(
    tmp_path: Path,
    bot: BotServer,
    bluez: MockBluez,
    start_daemon: Callable[[DaemonConfig], RunningDaemon],
) -> None:
    fits = "https://abcdefghijk.com/l/XYZ"
    too_long = "https://abcdefghijkl.com/l/XYZ"
    assert eddystone.encoded_length(fits) == 17
    assert eddystone.encoded_length(too_long) == 18
    beacon = await bluez.add_beacon(
        EDDYSTONE_ADDRESS,
        [GattLayout(eddystone.CONFIG_SERVICE_UUID, ((eddystone.ADV_SLOT_DATA_UUID, ("write",)),))],
    )
    char_path = beacon.chars[eddystone.ADV_SLOT_DATA_UUID]
    start_daemon(daemon_config(tmp_path, bot, "", f"{EDDYSTONE_ADDRESS}=eddystone"))

    await bot.publish("announcement", {"text": "Doors open", "short_url": fits, "print": False})

    async def written() -> bool:
        return bool(await bluez.written_values(char_path))

    await wait_until(written)
    frame = b"\x10\x03abcdefghijk\x00l/XYZ"
    assert await bluez.written_values(char_path) == [frame]

    await bot.publish("announcement", {"text": "Bar opens", "short_url": too_long, "print": False})

    async def alerted() -> bool:
        return any("18 bytes" in alert for alert in bot.alerts)

    await wait_until(alerted)
    [alert] = bot.alerts
    assert "URL beacons keep their previous link" in alert
    assert too_long in alert
    assert set(await bluez.written_values(char_path)) == {frame}


async def test_receipt_is_printed_and_reported(
    tmp_path: Path,
    bot: BotServer,
    capture_printer: CapturePrinter,
    start_daemon: Callable[[DaemonConfig], RunningDaemon],
) -> None:
    start_daemon(daemon_config(tmp_path, bot, capture_printer.uri))
    print_job_id, _ = await bot.publish_receipt("K7Q2")
    [receipt] = await capture_printer.wait_for_jobs(1)
    assert native_qr_payloads(receipt) == ["https://t.me/micropop_bot?start=r1-rc_K7Q2"]
    assert b"Code: K7Q2" in receipt

    async def reported() -> bool:
        return await bot.print_status(print_job_id) == "printed"

    await wait_until(reported)


async def test_uplink_loss_loses_nothing(
    tmp_path: Path,
    bot: BotServer,
    capture_printer: CapturePrinter,
    start_daemon: Callable[[DaemonConfig], RunningDaemon],
) -> None:
    config = daemon_config(tmp_path, bot, capture_printer.uri)
    daemon = start_daemon(config)
    first_job, _ = await bot.publish_receipt("A1")
    await capture_printer.wait_for_jobs(1)

    await bot.stop()
    jobs = [(await bot.publish_receipt(f"B{number}"))[0] for number in range(3)]
    await asyncio.sleep(1.5)
    assert len(capture_printer.complete_jobs) == 1

    await bot.start()
    printed = await capture_printer.wait_for_jobs(4)
    assert [data.count(b"Code: ") for data in printed] == [1, 1, 1, 1]
    codes = [data[data.find(b"Code: ") + 6 : data.find(b"Code: ") + 8] for data in printed]
    assert codes == [b"A1", b"B0", b"B1", b"B2"]

    async def all_reported() -> bool:
        statuses = [await bot.print_status(job) for job in [first_job, *jobs]]
        return statuses == ["printed"] * 4

    await wait_until(all_reported)

    await daemon.shutdown()
    start_daemon(config)
    await asyncio.sleep(1.0)
    assert len(capture_printer.complete_jobs) == 4


async def test_printer_outage_alerts_organisers(
    tmp_path: Path,
    bot: BotServer,
    capture_printer: CapturePrinter,
    start_daemon: Callable[[DaemonConfig], RunningDaemon],
) -> None:
    await capture_printer.refuse()
    start_daemon(daemon_config(tmp_path, bot, capture_printer.uri))
    await bot.publish_receipt("C1")

    async def alerted() -> bool:
        return len(bot.alerts) >= 1

    await wait_until(alerted)
    assert "printer" in bot.alerts[0]
    await capture_printer.start()
    await capture_printer.wait_for_jobs(1)

    async def recovered() -> bool:
        return len(bot.alerts) >= 2

    await wait_until(recovered)
    assert bot.alerts[1] == "Venue main-hall: printer is working again"
    assert len(bot.alerts) == 2


async def test_seen_event_is_stored_once(tmp_path: Path, bot: BotServer) -> None:
    daemon = VenueDaemon(daemon_config(tmp_path, bot, f"preview://{tmp_path / 'prints'}"))
    event = FeedEvent(9, "announcement", {"text": "hi", "deep_link": "https://t.me/b?start=e1"})
    assert daemon.store_event(event) is True
    assert daemon.store_event(event) is False
    assert daemon.store.queued_print_jobs() == 1
    await daemon.close()


async def test_poster_event_is_queued_as_countdown(tmp_path: Path, bot: BotServer) -> None:
    daemon = VenueDaemon(daemon_config(tmp_path, bot, f"preview://{tmp_path / 'prints'}"))
    payload = {
        "title": "Tote bag",
        "starts_at": "2026-12-04T21:00:00+00:00",
        "deep_link": "https://t.me/b?start=d1-po",
    }

    assert daemon.store_event(FeedEvent(4, "poster", payload)) is True

    job = daemon.store.next_print_job()
    assert job is not None
    assert layout_for_job(job.kind, job.payload).kind == "countdown"
    assert daemon.store.latest_beacon_content() is None
    await daemon.close()


async def test_too_long_beacon_url_is_a_problem(tmp_path: Path, bot: BotServer) -> None:
    daemon = VenueDaemon(daemon_config(tmp_path, bot, "", "sim:url=eddystone"))
    long_url = "https://a-very-long-public-domain.example.org/l/abc"
    daemon.store_event(FeedEvent(1, "announcement", {"text": "hi", "short_url": long_url}))
    [problem] = daemon.status()["problems"]
    assert long_url in problem
    assert "shorter public base URL" in problem
    await daemon.close()


async def test_missing_token_is_a_config_error(tmp_path: Path, bot: BotServer) -> None:
    config = daemon_config(tmp_path, bot, "")
    config.venue_token = SecretStr("")
    with pytest.raises(ConfigError, match="MICROPOP_HW_VENUE_TOKEN"):
        await run_daemon(config)


async def test_stop_ends_daemon_promptly(
    tmp_path: Path, bot: BotServer, start_daemon: Callable[[DaemonConfig], RunningDaemon]
) -> None:
    daemon = start_daemon(daemon_config(tmp_path, bot, f"preview://{tmp_path / 'prints'}"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await daemon.shutdown()
    assert time.monotonic() - started < 3.0


# With /l/a1 appended this encodes to 20 bytes, over the 17 of an Eddystone-URL frame.
LONG_BASE_URL = "http://127.0.0.1:18080"


async def reported_cursor(bot: BotServer, cursor: int) -> None:
    """Wait until the daemon acked `cursor` and sent a status report after that."""

    async def reported() -> bool:
        venues = await venue_feed.overview(bot.db)
        return bool(venues) and venues[0].acked_cursor >= cursor

    await wait_until(reported)
    # The status interval is 0.2 s, so this spans a couple of reports.
    await asyncio.sleep(0.6)


async def test_status_reports_iso_times(
    tmp_path: Path, bot: BotServer, start_daemon: Callable[[DaemonConfig], RunningDaemon]
) -> None:
    config = daemon_config(tmp_path, bot, f"preview://{tmp_path / 'prints'}", "sim:iso=nus")
    daemon = VenueDaemon(config)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    await bot.publish("announcement", {"text": "Doors open", "start": "e1-bc"})

    async def printed_and_written() -> bool:
        status = daemon.status()
        return bool(status["printer"]["last_printed_at"] and status["beacons"][0]["last_write_at"])

    await wait_until(printed_and_written)
    status = daemon.status()
    stop.set()
    await asyncio.wait_for(task, 10)
    await daemon.close()

    for value in (
        status["printer"]["last_printed_at"],
        status["beacons"][0]["last_write_at"],
        status["reported_at"],
    ):
        assert isinstance(value, str)
        assert datetime.fromisoformat(value).utcoffset() == UTC.utcoffset(None)
    assert status["printer"]["last_error_at"] is None


async def test_no_beacons_no_url_alerts(
    tmp_path: Path, bot: BotServer, start_daemon: Callable[[DaemonConfig], RunningDaemon]
) -> None:
    start_daemon(daemon_config(tmp_path, bot, f"preview://{tmp_path / 'prints'}"))
    for code in ("a1", "a2", "a3"):
        last = await bot.publish(
            "announcement", {"text": "Doors open", "short_url": f"{LONG_BASE_URL}/l/{code}"}
        )

    await reported_cursor(bot, last)

    assert bot.alerts == []
    [venue] = await venue_feed.overview(bot.db)
    assert venue.faults == []


async def test_too_long_beacon_url_alerts_once(
    tmp_path: Path,
    bot: BotServer,
    start_daemon: Callable[[DaemonConfig], RunningDaemon],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hardware")
    start_daemon(daemon_config(tmp_path, bot, "", "sim:long-url=eddystone"))
    for code in ("a1", "a2", "a3"):
        last = await bot.publish(
            "announcement", {"text": "Doors open", "short_url": f"{LONG_BASE_URL}/l/{code}"}
        )

    await reported_cursor(bot, last)

    [alert] = bot.alerts
    assert "encodes to 20 bytes" in alert
    assert "MICROPOP_PUBLIC_BASE_URL" in alert
    logged = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("Beacon skipped") for line in logged)
    assert not any(line.startswith("Beacon written") for line in logged)

    fitting = await bot.publish(
        "announcement", {"text": "Bar open", "short_url": "https://popup.com/l/a4"}
    )
    await reported_cursor(bot, fitting)

    assert len(bot.alerts) == 2
    assert bot.alerts[1].startswith("Venue main-hall: resolved: URL beacons keep")
