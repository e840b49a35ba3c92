"""End-to-end rehearsals: a short night through the CLI, and one with every fault in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from bot.rehearsal.options import FAULTS, RehearsalOptions
from bot.rehearsal.runner import run_rehearsal
from bot.scheduling import jobs

GUESTS = 20
# Fast enough for the suite. At this speed the tempo floors, not --speed, set the pace.
SPEED = 900
REQUIRED_KEYS = (
    "attendees",
    "announcements",
    "deliveries",
    "http_429",
    "rate_vs_ceiling",
    "claims",
    "receipts_printed",
    "beacon_writes",
    "verdict",
)


@pytest.fixture(scope="module")
def cli_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run `micropop rehearse --json` once for the module's tests."""
    report = tmp_path_factory.mktemp("report")
    command = [
        sys.executable, "-m", "bot.cli", "rehearse",
        "--attendees", str(GUESTS), "--speed", str(SPEED), "--report", str(report), "--json",
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=240)
    return completed, report


def last_line_json(completed: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(completed.stdout.strip().splitlines()[-1])


def broken_invariants(report: Path, completed: subprocess.CompletedProcess[str]) -> str:
    """Describe why a rehearsal failed: its broken invariants, or the end of its output."""
    path = report / "figures.json"
    if not path.is_file():
        return completed.stderr[-3000:]
    figures = json.loads(path.read_text())
    return "; ".join(f"{i['name']}: {i['detail']}" for i in figures["invariants"] if not i["held"])


def test_short_night_exits_zero(cli_run) -> None:
    completed, report = cli_run
    assert completed.returncode == 0, broken_invariants(report, completed)


def test_json_is_last_stdout_line(cli_run) -> None:
    completed, _ = cli_run
    figures = last_line_json(completed)
    missing = [key for key in REQUIRED_KEYS if key not in figures]
    assert missing == []


def test_json_matches_figures_file(cli_run) -> None:
    completed, report = cli_run
    stored = json.loads((report / "figures.json").read_text())
    assert stored == last_line_json(completed)


def test_deliveries_have_counts(cli_run) -> None:
    deliveries = last_line_json(cli_run[0])["deliveries"]
    for key in ("sent", "unreachable", "lost", "duplicate"):
        assert isinstance(deliveries[key], int), key


def test_every_guest_arrives(cli_run) -> None:
    figures = last_line_json(cli_run[0])
    assert figures["attendee_detail"]["arrived"] == GUESTS


def test_drop_sells_out_exactly(cli_run) -> None:
    claims = last_line_json(cli_run[0])["claims"]
    assert claims["claimed"] == claims["stock"]


def test_every_receipt_printed(cli_run) -> None:
    figures = last_line_json(cli_run[0])
    assert figures["receipts_printed"] == figures["claims"]["claimed"]


def test_beacons_written(cli_run) -> None:
    assert last_line_json(cli_run[0])["beacon_writes"] > 0


def test_rich_output_goes_to_stderr(cli_run) -> None:
    completed, _ = cli_run
    assert "Verdict: PASS" in completed.stderr


def test_report_files_written(cli_run) -> None:
    _, report = cli_run
    for name in ("report.html", "figures.json", "poster.png", "rehearsal.log"):
        assert (report / name).is_file(), name


def test_receipt_previews_written(cli_run) -> None:
    _, report = cli_run
    receipts = list((report / "prints").glob("*-receipt.png"))
    assert len(receipts) == last_line_json(cli_run[0])["claims"]["claimed"]


def test_slip_previews_written(cli_run) -> None:
    _, report = cli_run
    assert list((report / "prints").glob("*-announcement.png"))


def test_report_embeds_plot(cli_run) -> None:
    _, report = cli_run
    assert "<svg" in (report / "report.html").read_text()


def test_report_plots_deliveries(cli_run) -> None:
    _, report = cli_run
    html = (report / "report.html").read_text()
    assert "announcement deliveries</title>" in html
    assert "seconds after doors" in html


@pytest.mark.parametrize("name", ["poster.png", "-announcement.png", "-receipt.png"])
def test_report_embeds_preview(cli_run, name: str) -> None:
    _, report = cli_run
    html = (report / "report.html").read_text()
    caption = f"{name}</figcaption>"
    assert caption in html
    figure = html.partition(caption)[0].rpartition("<figure")[2]
    assert "src='data:image/png;base64," in figure


def test_unknown_fault_exits_two(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "bot.cli",
        "rehearse",
        "--faults",
        "meteor",
        "--report",
        str(tmp_path),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "Unknown fault 'meteor'" in completed.stderr


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def faulty_night(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict]:
    """Rehearse once with every fault, in-process, for the module's fault tests."""
    base = tmp_path_factory.mktemp("faults")
    options = RehearsalOptions(
        directory=base / "work",
        report=base / "report",
        attendees=GUESTS,
        speed=SPEED,
        faults=FAULTS,
        live=False,
    )
    status = await run_rehearsal(options)
    return status, json.loads((base / "report" / "figures.json").read_text())


def held(figures: dict, name: str) -> dict:
    return next(item for item in figures["invariants"] if item["name"] == name)


def test_every_fault_injected(faulty_night) -> None:
    _, figures = faulty_night
    assert sorted({fault["name"] for fault in figures["faults"]}) == sorted(FAULTS)
    assert all(fault["injected_at"] is not None for fault in figures["faults"])


def test_every_fault_recovered(faulty_night) -> None:
    _, figures = faulty_night
    assert held(figures, "faults recovered")["held"], figures["faults"]


@pytest.mark.parametrize(
    "invariant",
    [
        "no lost message",
        "no oversell",
        "no duplicate receipt",
        "no missed announcement",
        "everything settled",
    ],
)
def test_faults_keep_invariant(faulty_night, invariant: str) -> None:
    _, figures = faulty_night
    assert held(figures, invariant)["held"], held(figures, invariant)["detail"]


def test_injected_429s_counted(faulty_night) -> None:
    _, figures = faulty_night
    assert figures["limits"]["http_429_injected"] == 3


def test_faults_keep_limits(faulty_night) -> None:
    status, figures = faulty_night
    assert held(figures, "no limit exceeded")["held"], held(figures, "no limit exceeded")["detail"]
    assert status == 0


async def test_missed_announcement_fails_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def never_fire(key: str, announcement_id: int) -> None:
        """Stand in for a scheduler that never runs its announcement jobs."""

    monkeypatch.setattr(jobs, "fire_announcement", never_fire)
    options = RehearsalOptions(
        directory=tmp_path / "work",
        report=tmp_path / "report",
        attendees=5,
        speed=SPEED,
        live=False,
    )

    status = await run_rehearsal(options)

    figures = json.loads((tmp_path / "report" / "figures.json").read_text())
    verdict_line = " ".join(capsys.readouterr().out.split()).partition("Verdict: ")[2]
    assert status == 1
    assert figures["verdict"] == "fail"
    assert "no missed announcement" in figures["broken"]
    assert verdict_line.startswith("FAIL (broken:")
    assert "no missed announcement" in verdict_line


def test_faults_settle_time_counts_from_close(faulty_night) -> None:
    _, figures = faulty_night
    close = next(e for e in figures["timeline"] if e["text"] == "Doors close")
    settled = next(e for e in figures["timeline"] if e["text"].startswith("Everything settled"))
    assert figures["timing"]["settle_s"] >= settled["at"] - close["at"] - 0.5


def test_faults_announcements_end_done(faulty_night) -> None:
    _, figures = faulty_night
    statuses = {item["name"]: item["status"] for item in figures["per_announcement"]}
    assert set(statuses.values()) == {"done"}, statuses
