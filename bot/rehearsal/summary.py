"""The rehearsal's summary on the terminal: the verdict, per-announcement figures and faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.rehearsal.timeline import plural


def print_summary(console: Console, figures: dict[str, Any], report_dir: Path) -> None:
    console.rule("The night in figures")
    console.print(_announcements(figures["per_announcement"]))
    console.print(_figures(figures))
    if figures["faults"]:
        console.print(_faults(figures["faults"]))
    console.print(_invariants(figures["invariants"]))
    verdict = figures["verdict"]
    colour = "green" if verdict == "pass" else "red"
    broken = ", ".join(figures["broken"])
    if verdict == "interrupted":
        line = "stopped by Ctrl-C before close, so the figures cover the night until then"
    else:
        line = "every invariant held" if verdict == "pass" else f"broken: {broken}"
    console.print(f"[bold {colour}]Verdict: {verdict.upper()}[/] ({line})", highlight=False)
    console.print(f"Report: {(report_dir / 'report.html').resolve()}", highlight=False)


def _announcements(items: list[dict[str, Any]]) -> Table:
    table = Table(title="Announcements", title_justify="left")
    for column in (
        "name",
        "at",
        "status",
        "sent",
        "unreach.",
        "expired",
        "rate/s",
        "of max",
        "p50 s",
        "p99 s",
        "dup",
    ):
        table.add_column(column, justify="left" if column in ("name", "status") else "right")
    for item in items:
        counts = item["deliveries"]
        table.add_row(
            item["name"],
            item["scheduled"],
            item["status"],
            str(item["sent"]),
            str(counts.get("unreachable", 0)),
            str(counts.get("expired", 0)),
            _number(item["rate_per_s"], 1),
            _percent(item["rate_vs_ceiling"]),
            _number(item["latency_p50_s"], 2),
            _number(item["latency_p99_s"], 2),
            str(item["duplicates"]),
        )
    return table


def _figures(figures: dict[str, Any]) -> Table:
    table = Table(title="Figures", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in figure_lines(figures):
        table.add_row(name, value)
    return table


def figure_lines(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """Describe the night's figures in one line per topic."""
    deliveries = figures["deliveries"]
    claims = figures["claims"]
    limits = figures["limits"]
    receipts = figures["receipts"]
    people = figures["attendee_detail"]
    timing = figures["timing"]
    beacons = ", ".join(_beacon_line(beacon) for beacon in figures["venue"]["beacons"])
    return [
        (
            "guests",
            f"{people['arrived']} of {figures['attendees']} arrived, {people['paused']} paused, "
            f"{people['blocked']} blocked the bot",
        ),
        (
            "deliveries",
            f"{deliveries['sent']} sent, {deliveries['unreachable']} unreachable, "
            f"{deliveries['expired']} expired, {deliveries['lost']} lost, "
            f"{deliveries['duplicate']} duplicate",
        ),
        (
            "latency",
            f"p50 {_number(deliveries['latency_p50_s'], 2)} s, "
            f"p99 {_number(deliveries['latency_p99_s'], 2)} s after the scheduled time",
        ),
        (
            "rate",
            f"max {limits['max_sends_per_s']} sends/s of {limits['ceiling_per_s']:g} "
            f"({_percent(figures['rate_vs_ceiling'])}); 429s: {limits['http_429_injected']} "
            f"injected, {limits['http_429_from_limits']} from limits",
        ),
        (
            "drop",
            f"{claims['claimed']} claimed of {claims['stock']}, {claims['presses']} presses, "
            f"oversold {claims['oversold']}, sold out after "
            f"{_number(claims['sold_out_after_s'], 1)} s",
        ),
        (
            "receipts",
            f"{receipts['printed']} printed, {receipts['sent_in_telegram']} sent in Telegram, "
            f"duplicates {receipts['duplicate_prints'] + receipts['duplicate_photos']}",
        ),
        ("beacons", f"{figures['beacon_writes']} GATT writes: {beacons}"),
        (
            "time",
            f"night {timing['night_s']} s at {timing['speed']:g}x, set-up {timing['setup_s']} s, "
            f"settled {timing['settle_s']} s after close",
        ),
    ]


def _beacon_line(beacon: dict[str, Any]) -> str:
    if beacon["simulated"]:
        return f"{beacon['address']} shows {beacon['shows']!r}"
    return f"{beacon['address']} took {plural(beacon['writes'], 'write', 'writes')}"


def _faults(faults: list[dict[str, Any]]) -> Table:
    table = Table(title="Faults", title_justify="left")
    for column in ("fault", "description", "from s", "to s", "recovered s", "how"):
        table.add_column(column)
    for fault in faults:
        table.add_row(
            fault["name"],
            fault["description"],
            _number(fault["injected_at"], 1),
            _number(fault["lifted_at"], 1),
            _number(fault["recovered_at"], 1) if fault["recovered"] else "[red]no[/]",
            fault["skipped"] or fault["detail"],
        )
    return table


def _invariants(invariants: list[dict[str, Any]]) -> Table:
    table = Table(title="Invariants", title_justify="left")
    table.add_column("invariant")
    table.add_column("held")
    table.add_column("detail")
    for item in invariants:
        mark = "[green]yes[/]" if item["held"] else "[bold red]NO[/]"
        table.add_row(item["name"], mark, item["detail"])
    return table


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"
