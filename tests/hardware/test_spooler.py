"""Tests of the print spooler against a capture printer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rig.capture_printer import CapturePrinter
from rig.escpos_parse import native_qr_payloads

from hardware.printing import open_printer
from hardware.spooler import Spooler
from hardware.state import StateStore

LINK = "https://t.me/micropop_bot?start=r1f-rc_AbCdEfGh1234"
RECEIPT = {
    "event_title": "Night Market",
    "item": "Tote bag",
    "code": "K7Q2",
    "claimed_at": "2026-05-01T19:30:00+00:00",
    "time_zone": "Europe/Berlin",
    "deep_link": LINK,
}


@pytest.fixture
async def spooled(
    tmp_path: Path, capture_printer: CapturePrinter
) -> AsyncIterator[tuple[StateStore, Spooler]]:
    store = StateStore(tmp_path / "state.sqlite3")
    spooler = Spooler(store, open_printer(capture_printer.uri), retry_min_s=0.05)
    task = asyncio.create_task(spooler.run())
    yield store, spooler
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    store.close()


async def wait_until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_queued_receipt_is_printed(
    spooled: tuple[StateStore, Spooler], capture_printer: CapturePrinter
) -> None:
    store, spooler = spooled
    store.store_event(1, "receipt", print_job=(21, RECEIPT))
    spooler.wake()
    [data] = await capture_printer.wait_for_jobs(1)
    assert native_qr_payloads(data) == [LINK]
    await wait_until(lambda: store.unreported_printed() == [21])


async def test_half_printed_job_is_reprinted_once(
    spooled: tuple[StateStore, Spooler], capture_printer: CapturePrinter
) -> None:
    store, spooler = spooled
    capture_printer.plan("close_after", limit=150)
    store.store_event(1, "receipt", print_job=(21, RECEIPT))
    spooler.wake()
    await capture_printer.wait_for_jobs(1)
    await wait_until(lambda: store.unreported_printed() == [21])
    assert len(capture_printer.jobs) == 2
    assert capture_printer.jobs[0].complete is False
    assert len(capture_printer.complete_jobs) == 1
    assert store.unreported_printed() == [21]


async def test_refusing_printer_keeps_job_queued(
    spooled: tuple[StateStore, Spooler], capture_printer: CapturePrinter
) -> None:
    store, spooler = spooled
    await capture_printer.refuse()
    store.store_event(1, "receipt", print_job=(21, RECEIPT))
    spooler.wake()
    await wait_until(lambda: spooler.status.state == "error")
    assert store.queued_print_jobs() == 1
    assert "did not accept" in (spooler.status.last_error or "")

    await capture_printer.start()
    await capture_printer.wait_for_jobs(1)
    await wait_until(lambda: store.queued_print_jobs() == 0)
    assert spooler.status.state == "ok"


async def test_jobs_print_in_order(
    spooled: tuple[StateStore, Spooler], capture_printer: CapturePrinter
) -> None:
    store, spooler = spooled
    for number in (1, 2, 3):
        store.store_event(
            number, "receipt", print_job=(20 + number, {**RECEIPT, "code": f"C{number}"})
        )
    spooler.wake()
    jobs = await capture_printer.wait_for_jobs(3)
    positions = [jobs[index].find(f"Code: C{index + 1}".encode()) for index in range(3)]
    assert all(position > 0 for position in positions)


async def test_malformed_job_is_rejected(
    spooled: tuple[StateStore, Spooler], capture_printer: CapturePrinter
) -> None:
    store, spooler = spooled
    store.store_event(1, "receipt", print_job=(21, {"item": "Tote"}))
    store.store_event(2, "receipt", print_job=(22, RECEIPT))
    spooler.wake()
    await capture_printer.wait_for_jobs(1)
    await wait_until(lambda: store.unreported_printed() == [22])
    assert store.queued_print_jobs() == 0
