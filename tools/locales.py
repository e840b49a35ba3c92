"""Refresh the message catalogues: extract, merge into each language, compile.

Run after changing any text: `.venv/bin/python tools/locales.py`. New German entries arrive
empty and fall back to English until translated in bot/locales/de/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "bot" / "locales"
PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]


def main() -> None:
    template = LOCALES / "messages.pot"
    subprocess.run(
        [
            *PYBABEL,
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_",
            "-k",
            "__",
            "--no-location",
            "--omit-header",
            "--sort-output",
            "-o",
            str(template),
            ".",
        ],
        check=True,
        cwd=ROOT,  # the patterns in babel.cfg are relative to the repository root
    )
    for language in ("en", "de"):
        catalogue = LOCALES / language / "LC_MESSAGES" / "messages.po"
        action = "update" if catalogue.exists() else "init"
        subprocess.run(
            [
                *PYBABEL,
                action,
                "-i",
                str(template),
                "-d",
                str(LOCALES),
                "-D",
                "messages",
                "-l",
                language,
                *(["--no-fuzzy-matching"] if action == "update" else []),
            ],
            check=True,
        )
    subprocess.run([*PYBABEL, "compile", "-d", str(LOCALES), "-D", "messages"], check=True)


if __name__ == "__main__":
    main()
