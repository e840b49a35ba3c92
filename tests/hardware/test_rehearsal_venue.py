"""The rehearsal with the venue's own hardware: beacons over mock BlueZ, a TCP printer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rig.bluez import GattLayout, MockBluez
from rig.capture_printer import CapturePrinter

from bot.rehearsal.options import RehearsalOptions
from bot.rehearsal.runner import run_rehearsal
from bot.rehearsal.script import SCHEDULED
from hardware import eddystone
from hardware.beacons import NUS_RX_UUID, NUS_SERVICE_UUID

EDDYSTONE_ADDRESS = "AA:BB:CC:DD:EE:11"
NUS_ADDRESS = "AA:BB:CC:DD:EE:12"
GUESTS = 10
SPEED = 900
LAST_CALL_TEXT = SCHEDULED[-1].text


@pytest.mark.bluez
async def test_rehearsal_uses_real_beacons_and_printer(
    tmp_path: Path, bluez: MockBluez, capture_printer: CapturePrinter
) -> None:
    url_beacon = await bluez.add_beacon(
        EDDYSTONE_ADDRESS,
        [GattLayout(eddystone.CONFIG_SERVICE_UUID, ((eddystone.ADV_SLOT_DATA_UUID, ("write",)),))],
    )
    text_beacon = await bluez.add_beacon(
        NUS_ADDRESS, [GattLayout(NUS_SERVICE_UUID, ((NUS_RX_UUID, ("write",)),))]
    )
    report = tmp_path / "report"
    options = RehearsalOptions(
        directory=tmp_path / "work",
        report=report,
        attendees=GUESTS,
        speed=SPEED,
        beacons=f"{EDDYSTONE_ADDRESS}=eddystone,{NUS_ADDRESS}=nus",
        printer=capture_printer.uri,
        live=False,
    )

    status = await run_rehearsal(options)

    figures = json.loads((report / "figures.json").read_text())
    assert status == 0, [item for item in figures["invariants"] if not item["held"]]
    receipts = [job for job in capture_printer.complete_jobs if b"Code: " in job]
    assert len(receipts) == figures["claims"]["claimed"]
    assert figures["receipts_printed"] == figures["claims"]["claimed"]

    frames = await bluez.written_values(url_beacon.chars[eddystone.ADV_SLOT_DATA_UUID])
    assert frames
    assert eddystone.parse_adv_slot_data(frames[-1]).startswith("https://example.com/l/")
    texts = await bluez.written_values(text_beacon.chars[NUS_RX_UUID])
    assert LAST_CALL_TEXT.encode() in b"".join(texts)
    assert figures["beacon_writes"] == len(frames) + len(texts)
