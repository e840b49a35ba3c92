"""Simulated BLE beacons: a bleak client backend that records GATT writes instead of sending them.

A beacon address `sim:NAME` in MICROPOP_HW_BEACONS selects this backend. The beacon worker
makes the same `BleakClient` calls as for a real beacon: connect, service lookup,
`write_gatt_char` and disconnect. Only the backend under `BleakClient` differs. Rehearsals and
tests read back what each beacon received from `registry`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

from hardware import eddystone
from hardware.beacons import NUS_RX_UUID, NUS_SERVICE_UUID, SIM_PREFIX
from hardware.errors import BeaconError, InvalidURL

logger = logging.getLogger(__name__)

# An estimate of a typical negotiated ATT MTU (iOS commonly negotiates 185). A write without
# response carries the MTU minus the 3-byte ATT header.
DEFAULT_MTU = 185

# Profile -> (service UUID, characteristic UUID, characteristic properties).
LAYOUTS: dict[str, tuple[str, str, list[str]]] = {
    "eddystone": (eddystone.CONFIG_SERVICE_UUID, eddystone.ADV_SLOT_DATA_UUID, ["read", "write"]),
    "uribeacon": (eddystone.URI_BEACON_SERVICE_UUID, eddystone.URI_DATA_UUID, ["read", "write"]),
    "nus": (NUS_SERVICE_UUID, NUS_RX_UUID, ["write", "write-without-response"]),
}


@dataclass(frozen=True)
class GattWrite:
    """One write a simulated beacon received; `at` is wall-clock time (time.time())."""

    at: float
    characteristic: str
    data: bytes
    response: bool


class SimulatedBeacon:
    """One simulated beacon: the GATT layout of its profile and every write it received."""

    def __init__(self, address: str, profile: str, *, mtu: int = DEFAULT_MTU) -> None:
        if profile not in LAYOUTS:
            raise ValueError(
                f"unknown beacon profile {profile!r}: use one of {', '.join(LAYOUTS)}"
            )
        self.address = address
        self.profile = profile
        self.mtu = mtu
        self.writes: list[GattWrite] = []
        self.connects = 0
        # False makes scans miss the beacon, as if it were switched off or out of range.
        self.available = True

    @property
    def name(self) -> str:
        return self.address.removeprefix(SIM_PREFIX)

    def record(self, characteristic: str, data: bytes, response: bool) -> None:
        self.writes.append(GattWrite(time.time(), characteristic, bytes(data), response))

    def shown(self) -> str:
        """Return what the beacon shows now: the URL of its last frame, or its last NUS text."""
        if not self.writes:
            return ""
        if self.profile == "nus":
            return _last_text(self.writes)
        value = self.writes[-1].data
        try:
            if self.profile == "eddystone":
                return eddystone.parse_adv_slot_data(value)
            return eddystone.decode_url(value[0], value[1:])
        except (InvalidURL, IndexError) as exc:
            logger.warning(
                "Simulated beacon contains an invalid frame: address=%s error=%s",
                self.address,
                exc,
            )
            return ""


class SimulatedBeacons:
    """The simulated beacons of this process, by address, created on first use."""

    def __init__(self) -> None:
        self._beacons: dict[str, SimulatedBeacon] = {}

    def get(self, address: str, profile: str) -> SimulatedBeacon:
        beacon = self._beacons.get(address)
        if beacon is None:
            beacon = self._beacons[address] = SimulatedBeacon(address, profile)
        elif beacon.profile != profile:
            raise ValueError(
                f"simulated beacon {address} has profile {beacon.profile!r}, not {profile!r}: "
                "give each sim:NAME one profile"
            )
        return beacon

    def find(self, address: str) -> SimulatedBeacon | None:
        return self._beacons.get(address)

    def all(self) -> list[SimulatedBeacon]:
        return list(self._beacons.values())

    def clear(self) -> None:
        self._beacons.clear()


registry = SimulatedBeacons()


class SimulatedAdapter:
    """Stands in for `hardware.adapter.Adapter` for the `sim:` beacons of one profile."""

    def __init__(self, profile: str, beacons: SimulatedBeacons = registry) -> None:
        self.profile = profile
        self.beacons = beacons

    async def find(self, address: str) -> BLEDevice:
        beacon = self.beacons.get(address, self.profile)
        if not beacon.available:
            raise BeaconError(f"simulated beacon {address} is switched off: set available=True")
        return BLEDevice(address, beacon.name, beacon)

    async def connect(self, device: BLEDevice, *, use_services_cache: bool = True) -> BleakClient:
        client = BleakClient(device, backend=SimulatedClient)
        await client.connect()
        return client


class SimulatedClient(BaseBleakClient):
    """A bleak client backend whose peripheral is a `SimulatedBeacon` (the device's details)."""

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        if not isinstance(address_or_ble_device, BLEDevice) or not isinstance(
            address_or_ble_device.details, SimulatedBeacon
        ):
            raise BleakError("SimulatedClient needs the BLEDevice of a SimulatedBeacon")
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=kwargs.get("timeout", 10.0),
        )
        self.beacon: SimulatedBeacon = address_or_ble_device.details
        self._connected = False

    @property
    def name(self) -> str:
        return self.beacon.name

    @property
    def mtu_size(self) -> int:
        return self.beacon.mtu

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if not self.beacon.available:
            raise BleakError(
                f"connect to simulated beacon {self.address} failed: it is switched off"
            )
        self.services = _services(self.beacon)
        self._connected = True
        self.beacon.connects += 1

    async def disconnect(self) -> None:
        self._connected = False

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        if not self._connected:
            raise BleakError(f"simulated beacon {self.address} is not connected")
        limit = 512 if response else self.beacon.mtu - 3
        if len(data) > limit:
            raise BleakError(f"write of {len(data)} bytes exceeds {limit} for {self.address}")
        self.beacon.record(characteristic.uuid, bytes(data), response)

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, **kwargs: Any
    ) -> bytearray:
        written = [w for w in self.beacon.writes if w.characteristic == characteristic.uuid]
        return bytearray(written[-1].data if written else b"")

    async def read_gatt_descriptor(self, descriptor: Any, **kwargs: Any) -> bytearray:
        raise BleakError("simulated beacons have no descriptors")

    async def write_gatt_descriptor(self, descriptor: Any, data: Any) -> None:
        raise BleakError("simulated beacons have no descriptors")

    async def start_notify(self, characteristic: Any, callback: Any, **kwargs: Any) -> None:
        raise BleakError("simulated beacons send no notifications")

    async def stop_notify(self, characteristic: Any) -> None:
        raise BleakError("simulated beacons send no notifications")


def _services(beacon: SimulatedBeacon) -> BleakGATTServiceCollection:
    service_uuid, char_uuid, properties = LAYOUTS[beacon.profile]
    collection = BleakGATTServiceCollection()
    service = BleakGATTService(None, 1, service_uuid)
    collection.add_service(service)
    characteristic = BleakGATTCharacteristic(
        None, 2, char_uuid, list(properties), lambda: beacon.mtu - 3, service
    )
    collection.add_characteristic(characteristic)
    return collection


def _last_text(writes: list[GattWrite]) -> str:
    # The worker ends each text with a newline, so the last message is the bytes after the
    # newline before the final one.
    data = b"".join(write.data for write in writes)
    lines = data.decode("utf-8", "replace").split("\n")
    complete = lines[:-1] if data.endswith(b"\n") else lines
    return complete[-1] if complete else ""
