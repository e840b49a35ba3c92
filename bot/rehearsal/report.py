"""The rehearsal's HTML report: one self-contained page with the plot, tables and previews."""

from __future__ import annotations

import base64
import json
import os
from html import escape
from pathlib import Path
from typing import Any

from bot.rehearsal.plot import sends_svg
from bot.rehearsal.timeline import plural

# Previews embedded in the report; the rest are listed by file name next to it.
EMBEDDED_PER_KIND = 3

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 3px 10px; }
th { text-align: left; background: #f0f0f0; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1a7f37; } .fail { color: #c62828; } .muted { color: #777; }
.previews img { max-width: 260px; border: 1px solid #ccc; margin: 4px; vertical-align: top; }
code { background: #f3f3f3; padding: 0 3px; }
"""


def write_report(report_dir: Path, figures: dict[str, Any], series: dict[str, Any]) -> Path:
    """Write report.html into `report_dir` and return its path."""
    verdict = figures["verdict"]
    sections = [
        f"<h1>micropop rehearsal: <span class='{verdict}'>{verdict.upper()}</span></h1>",
        f"<p class='muted'>{_summary_line(figures)}</p>",
        "<h2>Invariants</h2>",
        _table(
            ["invariant", "held", "detail"],
            [
                [
                    item["name"],
                    "yes" if item["held"] else "<b class='fail'>NO</b>",
                    escape(item["detail"]),
                ]
                for item in figures["invariants"]
            ],
            raw=True,
        ),
        "<h2>Sends per second</h2>",
        sends_svg(series),
        "<p class='muted'>Green: announcement deliveries. Grey: every other message and edit "
        "(replies, receipts, the organiser group). Yellow: fault windows. Plot drawn as inline "
        "SVG by the rehearsal.</p>",
        "<h2>Announcements</h2>",
        _announcements(figures["per_announcement"]),
        "<h2>Figures</h2>",
        _key_values(figures),
    ]
    if figures["faults"]:
        sections += ["<h2>Faults</h2>", _faults(figures["faults"])]
    sections += [
        "<h2>Organiser steps</h2>",
        _table(
            ["step", "via", "sent", "ok"],
            [
                [s["name"], s["via"], s["detail"], "yes" if s["ok"] else "NO"]
                for s in figures["organiser_steps"]
            ],
        ),
        "<h2>Printed at the venue</h2>",
        _previews(report_dir),
        "<h2>Timeline</h2>",
        _table(
            ["s after doors", "night", "kind", "what"],
            [[f"{e['at']:.1f}", e["night"], e["kind"], e["text"]] for e in figures["timeline"]],
        ),
        "<p class='muted'>Raw figures: <a href='figures.json'>figures.json</a>. "
        "Log: <a href='rehearsal.log'>rehearsal.log</a>.</p>",
    ]
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>micropop rehearsal</title><style>"
        + STYLE
        + "</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )
    path = report_dir / "report.html"
    replace_file(path, page)
    return path


def replace_file(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so the old file stays until replaced."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _summary_line(figures: dict[str, Any]) -> str:
    options = figures["options"]
    timing = figures["timing"]
    faults = ", ".join(options["faults"]) or "none"
    return escape(
        f"{plural(options['attendees'], 'guest', 'guests')}, speed {options['speed']:g}x "
        f"(night {timing['night_s']} s), "
        f"faults: {faults}, beacons: {options['beacons']}, printer: {options['printer']}, "
        f"wall time {timing.get('wall_time_s', '?')} s"
    )


def _announcements(items: list[dict[str, Any]]) -> str:
    rows = []
    for item in items:
        counts = item["deliveries"]
        rows.append(
            [
                item["name"],
                item["scheduled"],
                item["status"],
                item["sent"],
                counts.get("unreachable", 0),
                counts.get("expired", 0),
                item["rate_per_s"],
                item["rate_vs_ceiling"],
                item["latency_p50_s"],
                item["latency_p99_s"],
                item["duplicates"],
            ]
        )
    header = [
        "name",
        "at",
        "status",
        "sent",
        "unreachable",
        "expired",
        "rate/s",
        "of ceiling",
        "p50 s",
        "p99 s",
        "duplicates",
    ]
    return _table(header, rows)


def _key_values(figures: dict[str, Any]) -> str:
    sections = (
        "deliveries",
        "limits",
        "claims",
        "receipts",
        "attendee_detail",
        "arrivals",
        "venue",
        "timing",
    )
    rows = []
    for section in sections:
        for key, value in figures[section].items():
            cell = (
                value
                if isinstance(value, int | float | str) or value is None
                else json.dumps(value, ensure_ascii=False)
            )
            rows.append([section, key, cell])
    return _table(["section", "figure", "value"], rows)


def _faults(faults: list[dict[str, Any]]) -> str:
    rows = [
        [
            f["name"],
            f["description"],
            f["injected_at"],
            f["lifted_at"],
            f["recovered_at"] if f["recovered"] else "not recovered",
            f["skipped"] or f["detail"],
        ]
        for f in faults
    ]
    return _table(["fault", "description", "from s", "to s", "recovered at s", "how"], rows)


def _previews(report_dir: Path) -> str:
    pictures = [report_dir / "poster.png"]
    prints = report_dir / "prints"
    if prints.is_dir():
        files = sorted(prints.glob("*.png"), key=lambda path: path.stat().st_mtime)
        for kind in ("announcement", "receipt"):
            pictures += [path for path in files if path.stem.endswith(kind)][:EMBEDDED_PER_KIND]
        others = [path for path in files if path not in pictures]
    else:
        others = []
    images = [
        f"<figure style='display:inline-block'><img alt='{escape(path.name)}' "
        f"src='data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}'>"
        f"<figcaption class='muted'>{escape(path.name)}</figcaption></figure>"
        for path in pictures
        if path.is_file()
    ]
    listing = ", ".join(
        f"<a href='prints/{escape(path.name)}'>{escape(path.name)}</a>" for path in others
    )
    more = f"<p class='muted'>Also printed: {listing}</p>" if others else ""
    return f"<div class='previews'>{''.join(images)}</div>{more}"


def _table(header: list[str], rows: list[list[Any]], *, raw: bool = False) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, int | float) and not isinstance(value, bool):
                cells.append(f"<td class='num'>{value}</td>")
            elif value is None:
                cells.append("<td class='num muted'>-</td>")
            else:
                cells.append(f"<td>{value if raw else escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
