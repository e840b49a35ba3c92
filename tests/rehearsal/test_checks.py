"""Tests of the verdict: each invariant breaks on its own kind of failure."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ElementTree
from typing import Any

import pytest

from bot.rehearsal.checks import check_night
from bot.rehearsal.plot import sends_svg

EXPECTED = ["doors", "drop live"]


def good_night() -> dict[str, Any]:
    return {
        "deliveries": {"lost": 0, "lost_examples": [], "sent": 40, "unreachable": 1, "expired": 0},
        "receipts": {
            "missing_in_telegram": 0,
            "duplicate_print_jobs": 0,
            "duplicate_prints": 0,
            "duplicate_photos": 0,
            "claims": 6,
            "printed": 6,
            "sent_in_telegram": 6,
        },
        "attendee_detail": {"unanswered_actions": 0},
        "claims": {
            "claimed": 6,
            "stock": 6,
            "remaining": 0,
            "oversold": 0,
            "max_per_person": 1,
            "per_person_limit": 1,
        },
        "per_announcement": [
            {"name": "doors", "status": "done"},
            {"name": "drop live", "status": "sending"},
        ],
        "limits": {
            "http_429_from_limits": 0,
            "http_429_injected": 0,
            "rejected_by_limits": [],
            "max_sends_per_s": 29,
            "ceiling_per_s": 30,
            "max_sends_per_private_chat_per_s": 1,
            "ceiling_per_private_chat_per_s": 1,
            "max_sends_per_group_per_min": 20,
            "ceiling_per_group_per_min": 20,
        },
        "faults": [],
        "organiser_steps": [{"name": "event", "detail": "/event Night", "ok": True}],
        "venue_problem": None,
        "unsettled": [],
    }


def broken(figures: dict[str, Any]) -> list[str]:
    return [item.name for item in check_night(figures, EXPECTED) if not item.held]


def changed(path: str, value: Any) -> dict[str, Any]:
    figures = copy.deepcopy(good_night())
    *parents, key = path.split(".")
    target = figures
    for parent in parents:
        target = target[parent]
    target[key] = value
    return figures


def test_good_night_breaks_nothing() -> None:
    assert broken(good_night()) == []


@pytest.mark.parametrize(
    ("path", "value", "invariant"),
    [
        ("deliveries.lost", 1, "no lost message"),
        ("receipts.missing_in_telegram", 1, "no lost message"),
        ("attendee_detail.unanswered_actions", 2, "no lost message"),
        ("claims.oversold", 1, "no oversell"),
        ("claims.remaining", 1, "no oversell"),
        ("claims.max_per_person", 2, "no oversell"),
        ("receipts.duplicate_prints", 1, "no duplicate receipt"),
        ("receipts.duplicate_photos", 1, "no duplicate receipt"),
        ("limits.max_sends_per_s", 31, "no limit exceeded"),
        ("limits.max_sends_per_group_per_min", 21, "no limit exceeded"),
        ("venue_problem", "daemon crashed", "script completed"),
        ("unsettled", ["6 print jobs not reported printed"], "everything settled"),
    ],
)
def test_failure_breaks_its_invariant(path: str, value: Any, invariant: str) -> None:
    assert broken(changed(path, value)) == [invariant]


def test_missed_announcement_breaks_invariant() -> None:
    figures = good_night()
    figures["per_announcement"][0]["status"] = "missed"
    assert broken(figures) == ["no missed announcement"]


def test_announcement_never_stored_breaks_invariant() -> None:
    figures = good_night()
    figures["per_announcement"].pop()
    assert broken(figures) == ["no missed announcement"]


def test_rejected_send_breaks_limits() -> None:
    figures = good_night()
    figures["limits"]["http_429_from_limits"] = 1
    figures["limits"]["rejected_by_limits"] = [
        {"at_s": 3.0, "method": "sendMessage", "chat_id": -100, "retry_after": 30}
    ]
    assert broken(figures) == ["no limit exceeded"]


def test_unrecovered_fault_breaks_invariant() -> None:
    figures = good_night()
    figures["faults"] = [
        {"name": "printer-offline", "description": "printer off", "recovered": False}
    ]
    assert broken(figures) == ["faults recovered"]


def test_failed_command_breaks_script() -> None:
    figures = good_night()
    figures["organiser_steps"][0]["ok"] = False
    assert broken(figures) == ["script completed"]


def test_plot_is_well_formed_svg() -> None:
    series = {
        "all": [0, 12, 30, 5],
        "deliveries": [0, 10, 28, 0],
        "ceiling": 30,
        "markers": [(1.2, "doors <&>")],
        "faults": [(2.0, 3.5, "flood-429")],
        "close_s": 4.0,
    }
    root = ElementTree.fromstring(sends_svg(series))
    assert root.tag.endswith("svg")
    assert len(root.findall("{http://www.w3.org/2000/svg}rect")) >= 6


def test_single_counts_read_singular() -> None:
    figures = good_night()
    figures["deliveries"]["lost"] = 1
    figures["deliveries"]["lost_examples"] = ["announcement 1 to chat 5: pending"]
    figures["attendee_detail"]["unanswered_actions"] = 1

    details = {item.name: item.detail for item in check_night(figures, EXPECTED)}

    assert details["no lost message"].startswith("1 announcement delivery lost")
    assert "1 guest action got no reply" in details["no lost message"]
    assert details["script completed"] == "1 organiser step done"
