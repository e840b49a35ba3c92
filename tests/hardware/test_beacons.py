"""Tests of beacon writes through bleak's BlueZ backend against the mock BlueZ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from bleak.backends.device import BLEDevice
from rig.bluez import GattLayout, MockBeacon, MockBluez

from hardware import eddystone
from hardware.adapter import Adapter
from hardware.beacons import (
    NUS_RX_UUID,
    NUS_SERVICE_UUID,
    BeaconFleet,
    BeaconSpec,
    nus_chunks,
    parse_beacons,
)
from hardware.errors import ConfigError
from hardware.state import BeaconContent, StateStore

pytestmark = pytest.mark.bluez

EDDYSTONE = GattLayout(
    eddystone.CONFIG_SERVICE_UUID, ((eddystone.ADV_SLOT_DATA_UUID, ("read", "write")),)
)
URIBEACON = GattLayout(
    eddystone.URI_BEACON_SERVICE_UUID, ((eddystone.URI_DATA_UUID, ("read", "write")),)
)
NUS = GattLayout(NUS_SERVICE_UUID, ((NUS_RX_UUID, ("write", "write-without-response")),))
LAYOUTS = {"eddystone": EDDYSTONE, "uribeacon": URIBEACON, "nus": NUS}
CHARS = {
    "eddystone": eddystone.ADV_SLOT_DATA_UUID,
    "uribeacon": eddystone.URI_DATA_UUID,
    "nus": NUS_RX_UUID,
}

FIRST = BeaconContent(1, "https://popup.com/l/e1", "Doors open at 8")
SECOND = BeaconContent(2, "https://popup.com/l/e2", "Drop starts in 5 minutes")

FleetFactory = Callable[[list[BeaconSpec]], Awaitable[BeaconFleet]]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[StateStore]:
    state = StateStore(tmp_path / "state.sqlite3")
    yield state
    state.close()


@pytest.fixture
async def run_fleet(store: StateStore) -> AsyncIterator[FleetFactory]:
    tasks: list[asyncio.Task[None]] = []

    async def start(specs: list[BeaconSpec], adapter: Adapter | None = None) -> BeaconFleet:
        adapter = adapter or Adapter(scan_timeout=1.0, connect_timeout=5.0)
        fleet = BeaconFleet(specs, store, adapter, retry_min_s=0.1, retry_max_s=0.5)
        tasks.append(asyncio.create_task(fleet.run()))
        return fleet

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def add(bluez: MockBluez, address: str, profile: str, mtu: int = 23) -> MockBeacon:
    return await bluez.add_beacon(address, [LAYOUTS[profile]], mtu=mtu)


def publish(store: StateStore, fleet: BeaconFleet, content: BeaconContent) -> None:
    store.store_event(content.event_id, "announcement", beacon_content=content)
    fleet.wake()


async def wait_written(
    store: StateStore, address: str, event_id: int, timeout: float = 10.0
) -> float:
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            records = {record.address: record for record in store.beacon_records()}
            if records[address].written_event_id == event_id:
                return time.monotonic() - started
            await asyncio.sleep(0.02)


def test_beacon_list_is_parsed() -> None:
    specs = parse_beacons("aa:bb:cc:dd:ee:01=Eddystone, AA:BB:CC:DD:EE:02=nus")
    assert specs == [
        BeaconSpec("AA:BB:CC:DD:EE:01", "eddystone"),
        BeaconSpec("AA:BB:CC:DD:EE:02", "nus"),
    ]


def test_unknown_profile_is_rejected() -> None:
    with pytest.raises(ConfigError, match="ADDRESS=PROFILE"):
        parse_beacons("AA:BB:CC:DD:EE:01=ibeacon")


def test_nus_chunks_keep_characters_whole() -> None:
    chunks = nus_chunks("Grüße aus Köln 😀 heute", 7)
    assert all(len(chunk) <= 7 for chunk in chunks)
    assert b"".join(chunks).decode("utf-8") == "Grüße aus Köln 😀 heute\n"
    assert all(chunk.decode("utf-8") for chunk in chunks)


@pytest.mark.parametrize("profile", ["eddystone", "uribeacon"])
async def test_url_beacon_gets_exact_bytes(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory, profile: str
) -> None:
    beacon = await add(bluez, "AA:BB:CC:DD:EE:01", profile)
    fleet = await run_fleet([BeaconSpec(beacon.address, profile)])
    publish(store, fleet, FIRST)
    await wait_written(store, beacon.address, 1)
    expected = {
        "eddystone": b"\x10\x03popup\x00l/e1",
        "uribeacon": b"\x03popup\x00l/e1",
    }[profile]
    assert await bluez.written_values(beacon.chars[CHARS[profile]]) == [expected]


async def test_nus_text_is_chunked_to_mtu(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    beacon = await add(bluez, "AA:BB:CC:DD:EE:03", "nus", mtu=23)
    fleet = await run_fleet([BeaconSpec(beacon.address, "nus")])
    publish(store, fleet, SECOND)
    await wait_written(store, beacon.address, 2)
    values = await bluez.written_values(beacon.chars[NUS_RX_UUID])
    assert all(len(value) <= 20 for value in values)
    assert b"".join(values) == b"Drop starts in 5 minutes\n"


async def test_failed_connects_are_retried(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    beacon = await add(bluez, "AA:BB:CC:DD:EE:01", "eddystone")
    await bluez.fail_connect(beacon.address, "org.bluez.Error.Failed", times=3)
    fleet = await run_fleet([BeaconSpec(beacon.address, "eddystone")])
    publish(store, fleet, FIRST)
    await wait_written(store, beacon.address, 1)
    assert await bluez.written_values(beacon.chars[CHARS["eddystone"]]) == [
        eddystone.adv_slot_data(FIRST.url)
    ]
    assert await bluez.method_calls(beacon.path, "Connect") == 4


async def test_in_progress_connect_is_retried(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    beacon = await add(bluez, "AA:BB:CC:DD:EE:01", "eddystone")
    await bluez.fail_connect(beacon.address, "org.bluez.Error.InProgress", times=1)
    fleet = await run_fleet([BeaconSpec(beacon.address, "eddystone")])
    publish(store, fleet, FIRST)
    await wait_written(store, beacon.address, 1)
    assert await bluez.method_calls(beacon.path, "Connect") == 2


async def test_failed_write_is_retried(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    beacon = await add(bluez, "AA:BB:CC:DD:EE:01", "eddystone")
    char_path = beacon.chars[CHARS["eddystone"]]
    await bluez.fail_write(char_path, "org.bluez.Error.Failed", times=1)
    fleet = await run_fleet([BeaconSpec(beacon.address, "eddystone")])
    publish(store, fleet, FIRST)
    await wait_written(store, beacon.address, 1)
    expected = eddystone.adv_slot_data(FIRST.url)
    assert await bluez.written_values(char_path) == [expected, expected]
    [record] = store.beacon_records()
    assert "Failed" in (record.last_error or "")


async def test_in_progress_write_is_retried(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    beacon = await add(bluez, "AA:BB:CC:DD:EE:01", "eddystone")
    char_path = beacon.chars[CHARS["eddystone"]]
    await bluez.fail_write(char_path, "org.bluez.Error.InProgress", times=2)
    fleet = await run_fleet([BeaconSpec(beacon.address, "eddystone")])
    publish(store, fleet, FIRST)
    await wait_written(store, beacon.address, 1)
    assert len(await bluez.written_values(char_path)) == 3


async def test_dead_beacon_delays_no_other(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    dead = await add(bluez, "AA:BB:CC:DD:EE:09", "eddystone")
    await bluez.fail_connect(dead.address, "org.bluez.Error.Failed")
    healthy = [await add(bluez, f"AA:BB:CC:DD:EE:0{n}", "eddystone") for n in (1, 2, 3)]
    specs = [BeaconSpec(dead.address, "eddystone")]
    specs += [BeaconSpec(beacon.address, "eddystone") for beacon in healthy]
    fleet = await run_fleet(specs)
    publish(store, fleet, FIRST)

    for beacon in healthy:
        elapsed = await wait_written(store, beacon.address, 1)
        assert elapsed < 3.0
    status = {entry["address"]: entry for entry in fleet.status()}
    assert status[dead.address]["state"] == "error"
    assert status[healthy[0].address]["state"] == "ok"


async def test_connect_waits_for_running_scan(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    beacon = await add(bluez, "AA:BB:CC:DD:EE:01", "eddystone")
    await bluez.reject_connect_while_scanning(beacon.address)
    char_path = beacon.chars[CHARS["eddystone"]]
    # The failed first write makes the worker connect again while the other worker scans.
    await bluez.fail_write(char_path, "org.bluez.Error.Failed", times=1)
    absent = BeaconSpec("AA:BB:CC:DD:EE:0F", "eddystone")
    adapter = Adapter(scan_timeout=3.0, connect_timeout=10.0)
    fleet = await run_fleet([absent, BeaconSpec(beacon.address, "eddystone")], adapter)
    publish(store, fleet, FIRST)

    await wait_written(store, beacon.address, 1)
    assert await bluez.method_calls(beacon.path, "Connect") == 2
    assert len(await bluez.written_values(char_path)) == 2


async def test_beacon_found_by_scan(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    fleet = await run_fleet([BeaconSpec("AA:BB:CC:DD:EE:05", "eddystone")])
    publish(store, fleet, FIRST)
    await asyncio.sleep(0.2)
    beacon = await add(bluez, "AA:BB:CC:DD:EE:05", "eddystone")
    await wait_written(store, beacon.address, 1)
    assert len(await bluez.written_values(beacon.chars[CHARS["eddystone"]])) == 1


async def test_vanished_beacon_is_written_on_return(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    beacon = await add(bluez, "AA:BB:CC:DD:EE:06", "eddystone")
    other = await add(bluez, "AA:BB:CC:DD:EE:07", "eddystone")
    vanished = asyncio.Event()

    class VanishingAdapter(Adapter):
        async def find(self, address: str) -> BLEDevice:
            device = await super().find(address)
            if address == beacon.address and not vanished.is_set():
                vanished.set()
                await bluez.remove_device(address)
            return device

    specs = [BeaconSpec(beacon.address, "eddystone"), BeaconSpec(other.address, "eddystone")]
    fleet = await run_fleet(specs, VanishingAdapter(scan_timeout=0.5, connect_timeout=5.0))
    publish(store, fleet, FIRST)
    assert await wait_written(store, other.address, 1) < 3.0
    await asyncio.wait_for(vanished.wait(), 5)
    records = {record.address: record for record in store.beacon_records()}
    assert records[beacon.address].written_event_id is None

    returned = await bluez.add_beacon(beacon.address, [EDDYSTONE])
    await wait_written(store, beacon.address, 1)
    assert await bluez.written_values(returned.chars[CHARS["eddystone"]]) == [
        eddystone.adv_slot_data(FIRST.url)
    ]


async def test_offline_beacon_gets_only_latest(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    beacon = await add(bluez, "AA:BB:CC:DD:EE:08", "eddystone")
    await bluez.fail_connect(beacon.address, "org.bluez.Error.Failed")
    fleet = await run_fleet([BeaconSpec(beacon.address, "eddystone")])
    publish(store, fleet, FIRST)
    publish(store, fleet, SECOND)
    await asyncio.sleep(0.5)
    await bluez.restore_connect(beacon.address)
    await wait_written(store, beacon.address, 2)
    assert await bluez.written_values(beacon.chars[CHARS["eddystone"]]) == [
        eddystone.adv_slot_data(SECOND.url)
    ]


async def test_missing_characteristic_refreshes_services(
    bluez: MockBluez, store: StateStore, run_fleet: FleetFactory
) -> None:
    service_only = GattLayout(eddystone.CONFIG_SERVICE_UUID, ())
    beacon = await bluez.add_beacon("AA:BB:CC:DD:EE:04", [service_only])
    fleet = await run_fleet([BeaconSpec(beacon.address, "eddystone")])
    publish(store, fleet, FIRST)

    async def failed_once() -> None:
        while not store.beacon_records()[0].failures:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(failed_once(), 5)
    char_path = await bluez.add_characteristic(
        beacon.services[eddystone.CONFIG_SERVICE_UUID], eddystone.ADV_SLOT_DATA_UUID, ("write",)
    )
    await wait_written(store, beacon.address, 1)
    assert await bluez.written_values(char_path) == [eddystone.adv_slot_data(FIRST.url)]
