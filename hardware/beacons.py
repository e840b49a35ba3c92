"""BLE beacons written over GATT: Eddystone config, URI beacon and Nordic UART text."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak_retry_connector import BLEAK_RETRY_EXCEPTIONS

from hardware import eddystone
from hardware.adapter import Adapter
from hardware.errors import BeaconError, ConfigError
from hardware.feed_client import report_time
from hardware.state import BeaconContent, StateStore

logger = logging.getLogger(__name__)

PROFILES = ("eddystone", "uribeacon", "nus")

NUS_SERVICE_UUID = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX_UUID = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"

# Display beacons store little text, so longer announcements are cut at a character boundary.
NUS_MAX_TEXT_BYTES = 512

_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
# `sim:NAME` selects a simulated beacon (hardware.sim) that records writes, for rehearsals.
SIM_PREFIX = "sim:"
_SIM_ADDRESS = re.compile(r"^sim:[A-Za-z0-9_-]{1,32}$")

# Errors a beacon write may raise that a later attempt can overcome.
WRITE_ERRORS = (*BLEAK_RETRY_EXCEPTIONS, BeaconError, EOFError, BrokenPipeError)


@dataclass(frozen=True)
class BeaconSpec:
    address: str
    profile: str


def parse_beacons(spec: str) -> list[BeaconSpec]:
    """Parse `AA:BB:CC:DD:EE:FF=eddystone,sim:bar=nus` into beacon specs.

    An address `sim:NAME` (NAME: 1-32 of A-Z a-z 0-9 _ -) is a simulated beacon.
    """
    beacons = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        address, _, profile = item.partition("=")
        address = address.strip()
        if not address.startswith(SIM_PREFIX):
            address = address.upper()
        profile = profile.strip().lower()
        valid_address = _ADDRESS.match(address) or _SIM_ADDRESS.match(address)
        if not valid_address or profile not in PROFILES:
            raise ConfigError(
                f"MICROPOP_HW_BEACONS: invalid entry {item!r}: use ADDRESS=PROFILE with a "
                f"profile of {', '.join(PROFILES)}, e.g. AA:BB:CC:DD:EE:FF=eddystone, or "
                "sim:NAME=PROFILE for a simulated beacon"
            )
        beacons.append(BeaconSpec(address, profile))
    return beacons


def nus_chunks(text: str, chunk_size: int) -> list[bytes]:
    """Split UTF-8 text into writes of at most `chunk_size` bytes, never inside a character."""
    if chunk_size < 4:
        raise BeaconError(f"write size {chunk_size} is below 4 bytes: the MTU is too small")
    data = text.encode("utf-8")[:NUS_MAX_TEXT_BYTES].decode("utf-8", "ignore") + "\n"
    chunks: list[bytes] = []
    current = b""
    for char in data:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > chunk_size:
            chunks.append(current)
            current = b""
        current += encoded
    chunks.append(current)
    return chunks


class BeaconWorker:
    """Keeps one beacon showing the newest content, retrying on its own schedule.

    The worker has its own task, so a beacon that is gone or busy only delays itself (and
    other beacons' connects by at most the adapter's bounds). Content is latest-wins: a
    retry writes whatever is newest at that moment.
    """

    def __init__(
        self,
        spec: BeaconSpec,
        adapter: Adapter,
        store: StateStore,
        *,
        retry_min_s: float = 1.0,
        retry_max_s: float = 60.0,
        write_timeout_s: float = 10.0,
    ) -> None:
        self.spec = spec
        self.adapter = adapter
        self.store = store
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.write_timeout_s = write_timeout_s
        self._wakeup = asyncio.Event()
        # Set when a characteristic was missing: the services bleak cached may predate it.
        self._stale_services = False

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        failures = 0
        while True:
            content = self.store.pending_beacon_content(self.spec.address)
            if content is None:
                # No await since the lookup, so content stored after it sets the event again.
                self._wakeup.clear()
                await self._wakeup.wait()
                continue

            started = time.monotonic()
            try:
                gatt_writes = await self.write(content)
            except Exception as exc:  # noqa: BLE001 - one beacon's fault must not end the others
                failures += 1
                delay = min(self.retry_min_s * 2 ** (failures - 1), self.retry_max_s)
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                logger.warning(
                    "Beacon write failed: address=%s event_id=%s attempt=%s retry_in=%.1fs "
                    "error=%s",
                    self.spec.address, content.event_id, failures, delay, error,
                    exc_info=not isinstance(exc, WRITE_ERRORS),
                )  # fmt: skip
                self.store.record_beacon_failure(self.spec.address, error)
                await asyncio.sleep(delay)
                continue

            failures = 0
            self.store.mark_beacon_written(self.spec.address, content.event_id, gatt_writes)
            if gatt_writes == 0:
                # write() logged why it skipped this content. NOTE: the store still
                # stamps last_write_at, so a status report shows a write time for it.
                continue
            logger.info(
                "Beacon written: address=%s profile=%s event_id=%s gatt_writes=%s "
                "elapsed=%.2fs",
                self.spec.address, self.spec.profile, content.event_id, gatt_writes,
                time.monotonic() - started,
            )  # fmt: skip

    async def write(self, content: BeaconContent) -> int:
        """Find, connect and write one beacon, then disconnect. Return the GATT write count."""
        if self.spec.profile != "nus" and not content.url:
            # Content has no URL only when no announcement so far had a short link that fits
            # a frame, and then there is nothing to write to a URL beacon.
            logger.info(
                "Beacon skipped, announcement has no beacon URL: address=%s event_id=%s",
                self.spec.address, content.event_id,
            )  # fmt: skip
            return 0
        device = await self.adapter.find(self.spec.address)
        client = await self.adapter.connect(device, use_services_cache=not self._stale_services)
        try:
            async with asyncio.timeout(self.write_timeout_s):
                writes = self._writes(client, content)
                for characteristic, value, response in writes:
                    await client.write_gatt_char(characteristic, value, response=response)
        finally:
            await _disconnect(client, self.spec.address)
        self._stale_services = False
        return len(writes)

    def _writes(
        self, client: BleakClient, content: BeaconContent
    ) -> list[tuple[BleakGATTCharacteristic, bytes, bool]]:
        if self.spec.profile == "eddystone":
            characteristic = self._characteristic(client, eddystone.ADV_SLOT_DATA_UUID)
            return [(characteristic, eddystone.adv_slot_data(content.url), True)]
        if self.spec.profile == "uribeacon":
            characteristic = self._characteristic(client, eddystone.URI_DATA_UUID)
            return [(characteristic, eddystone.uri_beacon_data(content.url), True)]

        characteristic = self._characteristic(client, NUS_RX_UUID)
        response = "write-without-response" not in characteristic.properties
        chunks = nus_chunks(content.text, characteristic.max_write_without_response_size)
        return [(characteristic, chunk, response) for chunk in chunks]

    def _characteristic(self, client: BleakClient, uuid: str) -> BleakGATTCharacteristic:
        characteristic = client.services.get_characteristic(uuid)
        if characteristic is None:
            self._stale_services = True
            raise BeaconError(
                f"beacon {self.spec.address} has no characteristic {uuid}: check that its "
                f"profile is {self.spec.profile!r} in MICROPOP_HW_BEACONS"
            )
        return characteristic


class BeaconFleet:
    """All configured beacons, each with its own worker task."""

    def __init__(
        self, specs: list[BeaconSpec], store: StateStore, adapter: Adapter, **retry: float
    ):
        self.store = store
        self.specs = specs
        store.register_beacons([(spec.address, spec.profile) for spec in specs])
        self.workers = [
            BeaconWorker(spec, _adapter_for(spec, adapter), store, **retry) for spec in specs
        ]

    @property
    def shows_urls(self) -> bool:
        """Whether any beacon has a URL profile, which needs a URL that fits a frame."""
        return any(spec.profile != "nus" for spec in self.specs)

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for worker in self.workers:
                group.create_task(worker.run(), name=f"beacon {worker.spec.address}")

    def status(self) -> list[dict[str, object]]:
        configured = {spec.address for spec in self.specs}
        result = []
        for record in self.store.beacon_records():
            if record.address not in configured:
                continue
            if record.failures:
                state = "error"
            elif record.event_id is not None and record.event_id != record.written_event_id:
                state = "pending"
            else:
                state = "ok"
            result.append(
                {
                    "address": record.address,
                    "profile": record.profile,
                    "state": state,
                    "event_id": record.event_id,
                    "written_event_id": record.written_event_id,
                    "last_write_at": report_time(record.last_write_at),
                    "last_error": record.last_error,
                    "last_error_at": report_time(record.last_error_at),
                    "failures": record.failures,
                }
            )
        return result


def _adapter_for(spec: BeaconSpec, adapter: Adapter) -> Adapter:
    if not spec.address.startswith(SIM_PREFIX):
        return adapter
    # Imported here because hardware.sim builds on this module's UUIDs.
    from hardware.sim import SimulatedAdapter

    return SimulatedAdapter(spec.profile)  # type: ignore[return-value]


async def _disconnect(client: BleakClient, address: str) -> None:
    try:
        async with asyncio.timeout(5):
            await client.disconnect()
    except (*BLEAK_RETRY_EXCEPTIONS, EOFError) as exc:
        logger.debug("Beacon disconnect failed: address=%s error=%s", address, exc)
