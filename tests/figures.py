"""Figures of the fault trials, appended as JSON lines to the file named by MICROPOP_FIGURES.

docs/reliability.md quotes these figures; set MICROPOP_FIGURES=/tmp/figures.jsonl to collect
them from a test run. Without the variable nothing is written.
"""

from __future__ import annotations

import json
import os
import time


def record(trial: str, **figures: object) -> None:
    """Append one trial's figures, e.g. `record("postgres-restart", resumed_after_s=1.2)`."""
    path = os.environ.get("MICROPOP_FIGURES")
    if not path:
        return
    line = json.dumps({"trial": trial, "at": round(time.time()), **figures}, sort_keys=True)
    with open(path, "a", encoding="utf-8") as output:
        output.write(line + "\n")
