"""Tests of the rehearsal's options: fault lists, ranges and the report directory."""

from __future__ import annotations

from pathlib import Path

import pytest

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
