"""The README and the organiser command guide list every console command with an example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.telegram.console import ORGANISER_COMMANDS

ROOT = Path(__file__).resolve().parents[3]
# A table cell boundary: a "|" that is not escaped as "\|" inside a cell.
CELL_RE = re.compile(r"(?<!\\)\|")
COMMAND_RE = re.compile(r"`/(?P<name>[a-z]+)\b")


def read_section(path: Path, heading: str) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end == -1 else text[start:end]


def examples_by_command(text: str) -> dict[str, str]:
    """Map each command that starts a table row's first cell to the row's last cell."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in CELL_RE.split(line)[1:-1]]
        match = COMMAND_RE.search(cells[0]) if cells else None
        if match:
            rows.setdefault(match["name"], cells[-1])
    return rows


@pytest.mark.parametrize("name", ORGANISER_COMMANDS)
def test_readme_lists_command_with_example(name):
    rows = examples_by_command(read_section(ROOT / "README.md", "## Organiser commands"))

    assert name in rows, f"/{name} has no row in the README's organiser commands"
    assert f"/{name}" in rows[name], f"/{name} has no example in the README"


@pytest.mark.parametrize("name", ORGANISER_COMMANDS)
def test_guide_lists_command_with_example(name):
    rows = examples_by_command((ROOT / "docs" / "organiser-commands.md").read_text("utf-8"))

    assert name in rows, f"/{name} has no row in docs/organiser-commands.md"
    assert f"/{name}" in rows[name], f"/{name} has no example in docs/organiser-commands.md"
