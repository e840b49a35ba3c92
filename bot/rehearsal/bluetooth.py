"""A start-up check that real beacons can be reached: the system D-Bus and BlueZ on it."""

from __future__ import annotations

import asyncio
import os

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from bot.errors import ConfigError

# bleak's BlueZ backend reaches bluetoothd under this name on the system bus.
BLUEZ_NAME = "org.bluez"
DEFAULT_SYSTEM_BUS = "unix:path=/var/run/dbus/system_bus_socket"
CHECK_TIMEOUT_S = 5.0


async def check_bluez() -> None:
    """Raise ConfigError unless the system D-Bus is reachable and BlueZ owns its name there."""
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", DEFAULT_SYSTEM_BUS)
    hint = "start dbus and bluetoothd, or use simulated beacons (sim:NAME=PROFILE)"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            try:
                reply = await bus.call(
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="NameHasOwner",
                        signature="s",
                        body=[BLUEZ_NAME],
                    )
                )
            finally:
                bus.disconnect()
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"Invalid --beacons: real beacons need Bluetooth, but the system D-Bus at "
            f"{address} is not reachable ({type(exc).__name__}: {exc}); {hint}"
        ) from None
    if reply is None or reply.message_type != MessageType.METHOD_RETURN or not reply.body[0]:
        raise ConfigError(
            f"Invalid --beacons: real beacons need Bluetooth, but BlueZ ({BLUEZ_NAME}) is not "
            f"running on the system D-Bus at {address}; {hint}"
        )
