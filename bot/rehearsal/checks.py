"""The rehearsal's verdict: each invariant of the night, whether it held, and why not."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bot.rehearsal.timeline import plural

# Announcement states that mean it went out (or is still going out) to its recipients.
FANNED_OUT = ("sending", "done")


@dataclass(frozen=True)
class Invariant:
    name: str
    held: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check_night(figures: dict[str, Any], expected: list[str]) -> list[Invariant]:
    """Check the figures of a finished night against every invariant of the design."""
    return [
        _no_lost_message(figures),
        _no_oversell(figures["claims"]),
        _no_duplicate_receipt(figures["receipts"]),
        _no_missed_announcement(figures["per_announcement"], expected),
        _no_limit_exceeded(figures["limits"]),
        _faults_recovered(figures["faults"]),
        _everything_settled(figures["unsettled"]),
        _script_completed(figures),
    ]


def _no_lost_message(figures: dict[str, Any]) -> Invariant:
    deliveries = figures["deliveries"]
    receipts = figures["receipts"]
    unanswered = figures["attendee_detail"]["unanswered_actions"]
    problems = []
    if deliveries["lost"]:
        examples = "; ".join(deliveries["lost_examples"][:3])
        lost = plural(deliveries["lost"], "announcement delivery", "announcement deliveries")
        problems.append(f"{lost} lost ({examples})")
    if receipts["missing_in_telegram"]:
        missing = plural(receipts["missing_in_telegram"], "receipt", "receipts")
        problems.append(f"{missing} never reached their owner")
    if unanswered:
        problems.append(f"{plural(unanswered, 'guest action', 'guest actions')} got no reply")
    detail = "; ".join(problems) or (
        f"{deliveries['sent']} delivered, {deliveries['unreachable']} to unreachable attendees, "
        f"{deliveries['expired']} expired unsent"
    )
    return Invariant("no lost message", not problems, detail)


def _no_oversell(claims: dict[str, Any]) -> Invariant:
    problems = []
    if claims["oversold"]:
        problems.append(f"{claims['claimed']} claimed of {claims['stock']}")
    remaining = claims["remaining"]
    if remaining is not None and remaining != claims["stock"] - claims["claimed"]:
        problems.append(f"stock shows {remaining} left after {claims['claimed']} claims")
    limit = claims["per_person_limit"]
    if limit is not None and claims["max_per_person"] > limit:
        problems.append(f"a person holds {claims['max_per_person']}, over the limit of {limit}")
    detail = "; ".join(problems) or f"{claims['claimed']} claimed of {claims['stock']}"
    return Invariant("no oversell", not problems, detail)


def _no_duplicate_receipt(receipts: dict[str, Any]) -> Invariant:
    kinds = {
        "duplicate_print_jobs": "print jobs",
        "duplicate_prints": "prints",
        "duplicate_photos": "receipt messages",
    }
    problems = [f"{receipts[key]} extra {what}" for key, what in kinds.items() if receipts[key]]
    detail = "; ".join(problems) or (
        f"{receipts['claims']} claims, {receipts['printed']} printed once, "
        f"{receipts['sent_in_telegram']} sent once"
    )
    return Invariant("no duplicate receipt", not problems, detail)


def _no_missed_announcement(announcements: list[dict[str, Any]], expected: list[str]) -> Invariant:
    """Check every stored announcement went out, and the script's ones were all stored."""
    problems = [
        f"{item['name']} is {item['status']}"
        for item in announcements
        if item["status"] not in FANNED_OUT
    ]
    stored = {item["name"] for item in announcements}
    problems += [f"{name} was never stored" for name in expected if name not in stored]
    detail = "; ".join(problems) or (
        f"{plural(len(announcements), 'announcement', 'announcements')} went out"
    )
    return Invariant("no missed announcement", not problems, detail)


def _no_limit_exceeded(limits: dict[str, Any]) -> Invariant:
    problems = []
    if limits["http_429_from_limits"]:
        first = limits["rejected_by_limits"][0]
        problems.append(
            f"{limits['http_429_from_limits']} sends rejected with 429 by the limits, the first "
            f"a {first['method']} to chat {first['chat_id']} at {first['at_s']} s"
        )
    if limits["max_sends_per_s"] > limits["ceiling_per_s"]:
        problems.append(f"{limits['max_sends_per_s']} sends in one second")
    if limits["max_sends_per_private_chat_per_s"] > limits["ceiling_per_private_chat_per_s"]:
        problems.append(
            f"{limits['max_sends_per_private_chat_per_s']} sends to one chat in a second"
        )
    if limits["max_sends_per_group_per_min"] > limits["ceiling_per_group_per_min"]:
        problems.append(f"{limits['max_sends_per_group_per_min']} sends to a group in a minute")
    detail = "; ".join(problems) or (
        f"max {limits['max_sends_per_s']}/s of {limits['ceiling_per_s']:g}, "
        f"{limits['http_429_injected']} injected 429s only"
    )
    return Invariant("no limit exceeded", not problems, detail)


def _faults_recovered(faults: list[dict[str, Any]]) -> Invariant:
    broken = [
        f"{fault['name']} ({fault['description']})" for fault in faults if not fault["recovered"]
    ]
    detail = (
        "not recovered: " + "; ".join(broken)
        if broken
        else f"{plural(len(faults), 'fault', 'faults')}, all recovered"
    )
    return Invariant("faults recovered", not broken, detail if faults else "no faults injected")


def _everything_settled(unsettled: list[str]) -> Invariant:
    detail = "still waiting: " + "; ".join(unsettled) if unsettled else "nothing left waiting"
    return Invariant("everything settled", not unsettled, detail)


def _script_completed(figures: dict[str, Any]) -> Invariant:
    problems = [
        f"{step['name']}: {step['detail']}"
        for step in figures["organiser_steps"]
        if not step["ok"]
    ]
    if figures.get("venue_problem"):
        problems.append(f"venue daemon: {figures['venue_problem']}")
    detail = "; ".join(problems) or (
        f"{plural(len(figures['organiser_steps']), 'organiser step', 'organiser steps')} done"
    )
    return Invariant("script completed", not problems, detail)
