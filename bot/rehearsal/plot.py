"""An inline SVG plot of sends per second over the night, with the ceiling and the faults."""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 36


def sends_svg(series: dict[str, Any]) -> str:
    """Draw announcement deliveries and all other sends per second, as an SVG element."""
    all_sends: list[int] = series["all"]
    deliveries: list[int] = series["deliveries"]
    seconds = max(len(all_sends), 1)
    ceiling = float(series["ceiling"])
    top = max([ceiling * 1.15, *all_sends]) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(second: float) -> float:
        return LEFT + plot_w * second / seconds

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="Sends per second during the night">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#ccc"/>',
    ]
    for start, end, name in series["faults"]:
        width = max(x(end) - x(start), 2)
        parts.append(
            f'<rect x="{x(start):.1f}" y="{TOP}" width="{width:.1f}" height="{plot_h}" '
            f'fill="#f5c542" fill-opacity="0.25"><title>{escape(name)}</title></rect>'
        )
    parts.append(_bars(all_sends, x, y, "#9ab", "all sends"))
    parts.append(_bars(deliveries, x, y, "#2a7", "announcement deliveries"))
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(ceiling):.1f}" y2="{y(ceiling):.1f}" '
        'stroke="#c33" stroke-dasharray="6 4"/>'
        f'<text x="{LEFT + 4}" y="{y(ceiling) - 4:.1f}" '
        f'font-size="11" fill="#c33">Telegram ceiling {ceiling:g}/s</text>'
    )
    for at, name in series["markers"]:
        parts.append(
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke="#555" stroke-width="0.6"/><text x="{x(at) + 2:.1f}" y="{TOP + 10}" '
            f'font-size="10" fill="#555" transform="rotate(90 {x(at) + 2:.1f} {TOP + 10})">'
            f"{escape(name)}</text>"
        )
    parts += _axes(seconds, top, x, y)
    parts.append("</svg>")
    return "".join(parts)


def _bars(values: list[int], x: Any, y: Any, colour: str, label: str) -> str:
    bars = []
    for second, value in enumerate(values):
        if not value:
            continue
        width = max(x(second + 1) - x(second) - 0.5, 0.5)
        bars.append(
            f'<rect x="{x(second):.1f}" y="{y(value):.1f}" width="{width:.1f}" '
            f'height="{y(0) - y(value):.1f}" fill="{colour}">'
            f"<title>{second} s: {value} {label}</title></rect>"
        )
    return "".join(bars)


def _axes(seconds: int, top: float, x: Any, y: Any) -> list[str]:
    parts = []
    step = max(5, round(seconds / 12 / 5) * 5)
    for second in range(0, seconds + 1, step):
        parts.append(
            f'<text x="{x(second):.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" '
            f'text-anchor="middle">{second}</text>'
        )
    parts.append(
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{HEIGHT - 4}" font-size="11" '
        'text-anchor="middle">seconds after doors</text>'
    )
    for value in range(0, int(top) + 1, 10):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 3:.1f}" font-size="10" text-anchor="end">'
            f"{value}</text>"
        )
    parts.append(
        f'<text x="12" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2}" font-size="11" '
        f'transform="rotate(-90 12 {TOP + (HEIGHT - TOP - BOTTOM) / 2})" '
        'text-anchor="middle">sends per second</text>'
    )
    return parts
