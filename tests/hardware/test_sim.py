"""Tests of simulated beacons: bleak's BleakClient over the recording backend, no BlueZ."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hardware import eddystone, sim
from hardware.adapter import Adapter
from hardware.beacons import NUS_RX_UUID, BeaconFleet, BeaconSpec, parse_beacons
from hardware.errors import ConfigError
from hardware.state import BeaconContent, StateStore

FIRST = BeaconContent(1, "https://example.com/l/e1", "Doors open at 8")
SECOND = BeaconContent(2, "https://example.com/l/e2", "Drop starts in 5 minutes")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[StateStore]:
    state = StateStore(tmp_path / "state.sqlite3")
    yield state
    state.close()


@pytest.fixture
def beacons() -> sim.SimulatedBeacons:
    sim.registry.clear()
    return sim.registry


async def run_fleet(store: StateStore, specs: list[BeaconSpec]) -> asyncio.Task[None]:
    fleet = BeaconFleet(specs, store, Adapter(), retry_min_s=0.05, retry_max_s=0.1)
    task = asyncio.create_task(fleet.run())
    for content in (FIRST, SECOND):
        store.store_event(content.event_id, "announcement", beacon_content=content)
    fleet.wake()
    return task


async def wait_written(store: StateStore, address: str, event_id: int) -> None:
    async with asyncio.timeout(5):
        while True:
            records = {record.address: record for record in store.beacon_records()}
            if records[address].written_event_id == event_id:
                return
            await asyncio.sleep(0.01)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_simulated_address_is_parsed() -> None:
    specs = parse_beacons("sim:door=Eddystone, AA:BB:CC:DD:EE:02=nus")
    assert specs == [BeaconSpec("sim:door", "eddystone"), BeaconSpec("AA:BB:CC:DD:EE:02", "nus")]


@pytest.mark.parametrize("entry", ["sim:=nus", "sim:two words=nus", "sim:" + "x" * 33 + "=nus"])
def test_invalid_simulated_name_is_rejected(entry: str) -> None:
    with pytest.raises(ConfigError, match="sim:NAME=PROFILE"):
        parse_beacons(entry)


async def test_eddystone_frame_is_recorded(
    store: StateStore, beacons: sim.SimulatedBeacons
) -> None:
    task = await run_fleet(store, [BeaconSpec("sim:door", "eddystone")])
    await wait_written(store, "sim:door", 2)
    await stop(task)

    door = beacons.find("sim:door")
    assert door is not None
    assert door.writes[-1].data == eddystone.adv_slot_data(SECOND.url)
    assert door.writes[-1].characteristic == eddystone.ADV_SLOT_DATA_UUID
    assert door.shown() == SECOND.url


async def test_nus_text_is_recorded_in_chunks(
    store: StateStore, beacons: sim.SimulatedBeacons
) -> None:
    task = await run_fleet(store, [BeaconSpec("sim:bar", "nus")])
    await wait_written(store, "sim:bar", 2)
    await stop(task)

    bar = beacons.find("sim:bar")
    assert bar is not None
    assert {write.characteristic for write in bar.writes} == {NUS_RX_UUID}
    assert bar.shown() == SECOND.text


async def test_switched_off_beacon_is_retried(
    store: StateStore, beacons: sim.SimulatedBeacons
) -> None:
    door = beacons.get("sim:door", "eddystone")
    door.available = False
    task = await run_fleet(store, [BeaconSpec("sim:door", "eddystone")])
    await asyncio.sleep(0.2)
    failures = {record.address: record.failures for record in store.beacon_records()}

    door.available = True
    await wait_written(store, "sim:door", 2)
    await stop(task)
    assert failures["sim:door"] >= 1
    assert door.shown() == SECOND.url


def test_profile_of_a_beacon_is_fixed(beacons: sim.SimulatedBeacons) -> None:
    beacons.get("sim:door", "eddystone")
    with pytest.raises(ValueError, match="one profile"):
        beacons.get("sim:door", "nus")
