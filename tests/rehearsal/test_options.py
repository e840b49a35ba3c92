"""Tests of the rehearsal's options: fault lists, ranges and the report directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.errors import ConfigError
from bot.rehearsal.options import FAULTS, RehearsalOptions, check, parse_faults


def test_all_names_every_fault() -> None:
    assert parse_faults("all") == FAULTS


def test_faults_keep_canonical_order() -> None:
    assert parse_faults("bot-restart, flood-429") == ("flood-429", "bot-restart")


def test_empty_faults_mean_none() -> None:
    assert parse_faults("") == ()


def test_unknown_fault_is_rejected() -> None:
    with pytest.raises(ConfigError, match="Unknown fault 'meteor'"):
        parse_faults("flood-429,meteor")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"attendees": 0}, "--attendees"),
        ({"speed": 0.1}, "--speed"),
        ({"beacons": "sim:door=ibeacon"}, "--beacons"),
        ({"printer": "lpt://1"}, "unknown scheme"),
    ],
)
def test_invalid_option_is_rejected(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check(RehearsalOptions(**changes))


def test_report_defaults_inside_dir(tmp_path: Path) -> None:
    assert RehearsalOptions(directory=tmp_path).report_dir() == tmp_path / "report"


def test_printer_defaults_to_previews(tmp_path: Path) -> None:
    options = RehearsalOptions(report=tmp_path)
    assert options.printer_uri() == f"preview://{tmp_path / 'prints'}"


@pytest.mark.parametrize("text", [",", "flood-429,", " , "])
def test_empty_fault_name_is_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match="a fault name is empty"):
        parse_faults(text)


@pytest.mark.parametrize("option", ["directory", "report"])
def test_file_as_directory_is_rejected(tmp_path: Path, option: str) -> None:
    path = tmp_path / "taken"
    path.write_text("")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        check(RehearsalOptions(**{option: path}))


def test_preview_printer_into_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "taken"
    path.write_text("")
    options = RehearsalOptions(report=tmp_path / "report", printer=f"preview://{path}/prints")
    with pytest.raises(ConfigError, match="--printer 'preview://"):
        check(options)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_report_is_rejected() -> None:
    # /proc refuses new entries even for root, like a read-only file system.
    with pytest.raises(ConfigError, match="cannot write there"):
        check(RehearsalOptions(report=Path("/proc/micropop-report")))


@pytest.mark.parametrize("option", ["--attendees", "--speed", "--seed"])
def test_non_number_option_names_value(option: str) -> None:
    result = CliRunner().invoke(app, ["rehearse", option, "abc"])
    assert result.exit_code == 2
    assert "'abc' is not a" in result.output
