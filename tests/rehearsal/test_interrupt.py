"""Tests of Ctrl-C during a rehearsal: a clean stop, exit status 130 and the report kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.rehearsal.options import RehearsalOptions
from bot.rehearsal.runner import INTERRUPTED_STATUS, run_rehearsal
from bot.rehearsal.script import NightScript

OLD_REPORT = "<html>earlier run</html>"
OLD_FIGURES = '{"verdict": "pass"}'


def interrupt_at(monkeypatch: pytest.MonkeyPatch, method: str, *, before: bool) -> None:
    """Send this process SIGINT when the script's `method` starts, or when it returns."""
    original = getattr(NightScript, method)

    async def interrupted(self: NightScript) -> None:
        if before:
            os.kill(os.getpid(), signal.SIGINT)
        await original(self)
        if not before:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(NightScript, method, interrupted)


def earlier_report(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "report.html").write_text(OLD_REPORT)
    (path / "figures.json").write_text(OLD_FIGURES)
    return path


def short_night(tmp_path: Path) -> RehearsalOptions:
    return RehearsalOptions(
        directory=tmp_path / "work",
        report=tmp_path / "report",
        attendees=3,
        speed=900,
        live=False,
    )


async def test_interrupted_night_reports_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_at(monkeypatch, "open_doors", before=False)

    status = await run_rehearsal(short_night(tmp_path))

    figures = json.loads((tmp_path / "report" / "figures.json").read_text())
    assert status == INTERRUPTED_STATUS
    assert figures["verdict"] == "interrupted"
    assert figures["interrupted"] is True
    assert "INTERRUPTED" in (tmp_path / "report" / "report.html").read_text()


async def test_interrupted_setup_keeps_old_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = earlier_report(tmp_path / "report")
    interrupt_at(monkeypatch, "set_up", before=True)

    status = await run_rehearsal(short_night(tmp_path))

    assert status == INTERRUPTED_STATUS
    assert (report / "report.html").read_text() == OLD_REPORT
    assert (report / "figures.json").read_text() == OLD_FIGURES


def test_ctrl_c_exits_130_without_traceback(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "bot.cli", "rehearse",
        "--attendees", "3", "--speed", "900", "--report", str(tmp_path / "report"),
    ]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "report" / ".rehearsal.log.partial"
    deadline = time.monotonic() + 60
    # Wait until the rehearsal runs, so the interrupt lands after start-up.
    while time.monotonic() < deadline and not log.exists():
        time.sleep(0.2)
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)

    assert child.returncode == INTERRUPTED_STATUS, err[-2000:]
    assert "Traceback" not in out + err
    assert "micropop rehearse: " in out
