"""The Bluetooth adapter shared by all beacons: device lookup, scans and connects in turn."""

from __future__ import annotations

import asyncio
import logging
import time

from bleak import BleakScanner
from bleak.backends.bluezdbus.manager import get_global_bluez_manager
from bleak.backends.device import BLEDevice
from bleak_retry_connector import (
    BleakClientWithServiceCache,
    establish_connection,
    get_device_by_adapter,
)

from hardware.errors import BeaconError

logger = logging.getLogger(__name__)

DEFAULT_SCAN_TIMEOUT_S = 5.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0

# Connection attempts per connect through bleak-retry-connector. It backs off between them and
# also retries transient BlueZ errors such as le-connection-abort-by-local on its own.
CONNECT_ATTEMPTS = 2


class Adapter:
    """One BlueZ adapter, used by every beacon worker through one lock.

    The lock serialises scans and connection attempts. A scan has stopped before a connect
    starts, since BlueZ may reject a connect during discovery with InProgress, and only one LE
    connection attempt is pending at a time, since controllers commonly take one at a time.
    GATT writes run outside the lock. A beacon that does not respond delays another beacon's
    connect by at most `connect_timeout` (or `scan_timeout` for a scan) per attempt, and
    beacon workers back off between attempts.
    """

    def __init__(
        self,
        name: str = "hci0",
        *,
        scan_timeout: float = DEFAULT_SCAN_TIMEOUT_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.scan_timeout = scan_timeout
        self.connect_timeout = connect_timeout
        self.lock = asyncio.Lock()

    async def find(self, address: str) -> BLEDevice:
        """Return BlueZ's device object for an address, scanning for it when BlueZ has none.

        Raises:
            BeaconError: the scan ended without seeing the address.
        """
        # bleak-retry-connector reads bleak's device cache without waiting for it to load, so
        # the first lookups of a fresh event loop would find nothing without this await.
        await get_global_bluez_manager()
        device = await get_device_by_adapter(address, self.name)
        if device is not None:
            return device

        started = time.monotonic()
        async with self.lock:
            device = await BleakScanner.find_device_by_address(
                address, timeout=self.scan_timeout, bluez={"adapter": self.name}
            )
        logger.debug(
            "Scan done: address=%s found=%s elapsed=%.2fs",
            address, device is not None, time.monotonic() - started,
        )  # fmt: skip
        if device is None:
            raise BeaconError(
                f"beacon {address} not found by a {self.scan_timeout:g} s scan on {self.name}: "
                "check that it is powered, in range and not connected to another phone"
            )
        return device

    async def connect(
        self, device: BLEDevice, *, use_services_cache: bool = True
    ) -> BleakClientWithServiceCache:
        """Connect to a device through bleak-retry-connector, holding the adapter lock.

        `use_services_cache=False` makes bleak read the GATT services from BlueZ again
        instead of reusing those it cached at an earlier connect.

        Raises:
            BeaconError: the device left BlueZ since it was found (checked under the lock).
            TimeoutError: no connection within `connect_timeout`.
            bleak.exc.BleakError: every attempt failed.
        """
        async with self.lock:
            # A device that vanished after the scan would make the connector wait several
            # seconds for it to reappear while holding the lock, so check it first.
            if await get_device_by_adapter(device.address, self.name) is None:
                raise BeaconError(
                    f"beacon {device.address} left BlueZ after it was found: it may be out "
                    "of range or powered off, and is looked up again on the next attempt"
                )
            async with asyncio.timeout(self.connect_timeout):
                return await establish_connection(
                    BleakClientWithServiceCache,
                    device,
                    device.address,
                    max_attempts=CONNECT_ATTEMPTS,
                    use_services_cache=use_services_cache,
                )
