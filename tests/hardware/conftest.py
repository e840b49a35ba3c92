"""Fixtures of the hardware tests: a capture printer and the mock BlueZ rig."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# The rig helpers live beside the tests. pytest's importlib mode does not put this folder on
# sys.path, so it is added here for the tests to import `rig`.
sys.path.insert(0, str(Path(__file__).parent))

from rig.bluez import INSTALL_HINT, BluezRig, MockBluez, missing_parts  # noqa: E402
from rig.capture_printer import CapturePrinter  # noqa: E402


@pytest.fixture
async def capture_printer() -> AsyncIterator[CapturePrinter]:
    printer = CapturePrinter()
    await printer.start()
    yield printer
    await printer.stop()


@pytest.fixture(scope="session")
def bluez_rig() -> Iterator[BluezRig]:
    """A private system bus with the mock BlueZ, shared by the session's BLE tests."""
    missing = missing_parts()
    if missing:
        message = f"mock BlueZ rig unavailable: {missing}. Fix: {INSTALL_HINT}"
        if os.environ.get("MICROPOP_REQUIRE_RIGS") == "1":
            pytest.fail(f"{message} (MICROPOP_REQUIRE_RIGS=1)")
        pytest.skip(message)

    rig = BluezRig()
    rig.start()
    previous = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    # bleak and dbus-fast read the system bus address from the environment on every connect.
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = rig.address
    yield rig
    if previous is None:
        os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
    else:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = previous
    rig.stop()


@pytest.fixture
async def bluez(bluez_rig: BluezRig) -> AsyncIterator[MockBluez]:
    """The mock reset to one adapter, hci0, with no devices."""
    mock = await MockBluez.connect(bluez_rig.address)
    await mock.reset()
    yield mock
    await mock.close()
