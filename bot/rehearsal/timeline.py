"""The night's timeline: what happened when, in real seconds after doors and night time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bot.rehearsal.clock import NightClock

logger = logging.getLogger(__name__)

KINDS = ("setup", "cue", "bot", "crowd", "venue", "fault", "recovery", "problem")


@dataclass(frozen=True)
class Entry:
    """One line of the timeline; `at` is real seconds after doors (negative during set-up)."""

    at: float
    night: str
    kind: str
    text: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Timeline:
    """Collects entries in order and passes each to the listeners (the live console)."""

    def __init__(self, clock: NightClock) -> None:
        self.clock = clock
        self.entries: list[Entry] = []
        self.listeners: list[Callable[[Entry], None]] = []

    def add(
        self, kind: str, text: str, *, monotonic: float | None = None, live: bool = True
    ) -> Entry:
        """Add an entry; `live=False` keeps an entry added after the fact off the console."""
        if kind not in KINDS:
            raise ValueError(f"Unknown timeline kind {kind!r}: use one of {', '.join(KINDS)}")
        now = time.monotonic() if monotonic is None else monotonic
        started = self.clock.started_at is not None
        entry = Entry(
            at=round(self.clock.elapsed(now), 2) if started else 0.0,
            night=self.clock.label(self.clock.minute(now)) if started else "set-up",
            kind=kind,
            text=text,
        )
        self.entries.append(entry)
        logger.info("Rehearsal %s: at=%.2fs %s", kind, entry.at, text)
        if live:
            for listener in self.listeners:
                listener(entry)
        return entry

    def sorted(self) -> list[Entry]:
        return sorted(self.entries, key=lambda entry: entry.at)


def plural(count: int, singular: str, plural_form: str) -> str:
    """Format `count` with the noun that agrees with it: "1 job", "2 jobs", "0 jobs".

    The rehearsal's texts are English only, so they need no gettext catalogue.
    """
    return f"{count} {singular if count == 1 else plural_form}"
