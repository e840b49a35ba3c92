"""Tests of the start-up check for real beacons: no system D-Bus means exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.rehearsal.bluetooth import check_bluez
from bot.rehearsal.options import RehearsalOptions, real_beacons
from bot.rehearsal.runner import run_rehearsal

REAL_BEACON = "AA:BB:CC:DD:EE:FF=eddystone"


@pytest.fixture
def no_system_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")


async def test_missing_system_bus_is_rejected(no_system_bus: None) -> None:
    with pytest.raises(ConfigError, match="system D-Bus .* is not reachable"):
        await check_bluez()


async def test_rehearsal_without_bluetooth_exits_two(
    no_system_bus: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = RehearsalOptions(report=tmp_path / "report", beacons=REAL_BEACON, live=False)

    status = await run_rehearsal(options)

    assert status == 2
    assert "real beacons need Bluetooth" in " ".join(capsys.readouterr().out.split())
    assert not (tmp_path / "report" / "figures.json").exists()


def test_simulated_beacons_need_no_bluetooth() -> None:
    assert real_beacons("sim:entrance=eddystone,sim:stage=nus") is False
    assert real_beacons(f"sim:stage=nus,{REAL_BEACON}") is True
