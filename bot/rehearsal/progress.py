"""Progress while the rehearsal runs: the timeline as it happens and a live status line."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import Claim, Delivery, DeliveryStatus
from bot.emulator import BotAPIEmulator
from bot.rehearsal.clock import NightClock
from bot.rehearsal.timeline import Entry, Timeline

logger = logging.getLogger(__name__)

STYLES = {
    "setup": "dim",
    "cue": "cyan",
    "bot": "green",
    "crowd": "blue",
    "venue": "magenta",
    "fault": "bold yellow",
    "recovery": "yellow",
    "problem": "bold red",
}


@dataclass
class Counters:
    phase: str = "set-up"
    arrived: int = 0
    planned: int = 0
    sent: int = 0
    queued: int = 0
    claims: int = 0
    stock: int = 0
    printed: int = 0
    beacon_writes: int = 0
    http_429: int = 0
    faults: str = ""


class LiveStatus:
    """Prints timeline entries as they come and keeps a status table below them."""

    def __init__(
        self, console: Console, clock: NightClock, timeline: Timeline, live: bool
    ) -> None:
        self.console = console
        self.clock = clock
        self.counters = Counters()
        self._live: Live | None = None
        if live and console.is_terminal:
            self._live = Live(self._table(), console=console, refresh_per_second=4, transient=True)
        timeline.listeners.append(self._print)

    def __enter__(self) -> LiveStatus:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def _print(self, entry: Entry) -> None:
        style = STYLES.get(entry.kind, "")
        when = (
            f"{entry.at:6.1f}s {entry.night:>6}" if entry.night != "set-up" else f"{'':7} set-up"
        )
        self.console.print(
            f"[dim]{when}[/] [{style}]{entry.kind:<8}[/] {entry.text}", highlight=False
        )
        if entry.kind in ("cue", "fault"):
            self.counters.phase = entry.text[:60]

    async def follow(
        self, monitor: Database, emulator: BotAPIEmulator, sources: dict[str, object]
    ) -> None:
        """Refresh the counters every second until cancelled."""
        while True:
            try:
                await self._refresh(monitor, emulator, sources)
            except Exception:  # noqa: BLE001 - the status line is informative only
                logger.exception("Progress refresh failed")
            if self._live is not None:
                self._live.update(self._table())
            await asyncio.sleep(1.0)

    async def _refresh(
        self, monitor: Database, emulator: BotAPIEmulator, sources: dict[str, object]
    ) -> None:
        counters = self.counters
        async with monitor.transaction(readonly=True) as session:
            rows = await session.execute(
                select(Delivery.status, func.count()).group_by(Delivery.status)
            )
            by_status = {status: count for status, count in rows.all()}
            counters.claims = await session.scalar(select(func.count()).select_from(Claim)) or 0
        counters.sent = by_status.get(DeliveryStatus.SENT, 0)
        counters.queued = by_status.get(DeliveryStatus.PENDING, 0) + by_status.get(
            DeliveryStatus.SENDING, 0
        )
        counters.http_429 = emulator.stats.http_429
        crowd = sources.get("crowd")
        if crowd is not None:
            counters.arrived = crowd.arrived()  # type: ignore[attr-defined]
            counters.planned = len(crowd.guests)  # type: ignore[attr-defined]
        venue = sources.get("venue")
        if venue is not None:
            counters.printed = sum(job.status == "printed" for job in venue.stored_prints())  # type: ignore[attr-defined]
            counters.beacon_writes = sum(len(b.writes) for b in venue.simulated_beacons)  # type: ignore[attr-defined]

    def _table(self) -> Table:
        counters = self.counters
        night = self.clock.label() if self.clock.started_at is not None else "set-up"
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in (
            "night",
            "guests",
            "delivered",
            "queued",
            "claims",
            "printed",
            "beacon writes",
            "429s",
            "now",
        ):
            # The last column takes what is left of the line rather than wrapping it.
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        table.add_row(
            night,
            f"{counters.arrived}/{counters.planned}",
            str(counters.sent),
            str(counters.queued),
            f"{counters.claims}/{counters.stock}",
            str(counters.printed),
            str(counters.beacon_writes),
            str(counters.http_429),
            counters.phase,
        )
        return table
