"""Fixtures of the hardware tests: a capture printer and the mock BlueZ rig."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rig.capture_printer import CapturePrinter


@pytest.fixture
async def capture_printer() -> AsyncIterator[CapturePrinter]:
    printer = CapturePrinter()
    await printer.start()
    yield printer
    await printer.stop()
