"""The venue during a rehearsal: the real venue daemon in-process, its beacons and its printer.

The daemon reaches the bot through an `UplinkRelay`, so the rehearsal can cut the venue's
uplink without touching the bot. With the default preview printer, the printer is switched
off by putting a file where the preview directory was, so every print fails as it would
with the paper out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.rehearsal.stage import Stage
from bot.rehearsal.timeline import Timeline
from bot.rehearsal.uplink import UplinkRelay
from hardware import sim
from hardware.beacons import SIM_PREFIX, parse_beacons
from hardware.config import DaemonConfig
from hardware.daemon import run_daemon
from hardware.printing import parse_printer_uri

logger = logging.getLogger(__name__)

VENUE_NAME = "rehearsal-hall"


def venue_tokens() -> str:
    """Return a fresh MICROPOP_VENUE_TOKENS entry for the rehearsal's venue."""
    return f"{VENUE_NAME}:{secrets.token_urlsafe(24)}"


STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class StoredPrint:
    """One print job as the daemon's local store records it."""

    print_job_id: int | None
    kind: str
    status: str
    attempts: int
    printed_at: float | None


class VenueRig:
    """Runs `hardware.daemon.run_daemon` against the rehearsal's bot."""

    def __init__(
        self, stage: Stage, workdir: Path, beacons: str, printer: str, timeline: Timeline
    ) -> None:
        self.stage = stage
        self.timeline = timeline
        # The bot must know the token before it starts: see `venue_tokens`.
        self.token = stage.overrides["venue_tokens"].partition(":")[2]
        self.state_file = workdir / "hardware.sqlite3"
        self.beacons = beacons
        self.printer = printer
        target = parse_printer_uri(printer)
        self.preview_dir = Path(target.path) if target.scheme == "preview" else None
        self.relay = UplinkRelay(lambda: stage.service.web_port if stage.service else None)
        self.problem: str | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def simulated_beacons(self) -> list[sim.SimulatedBeacon]:
        addresses = {spec.address for spec in parse_beacons(self.beacons)}
        return [beacon for beacon in sim.registry.all() if beacon.address in addresses]

    async def start(self) -> None:
        if self.preview_dir is not None:
            self.preview_dir.mkdir(parents=True, exist_ok=True)
        # Simulated beacons live as long as the process, so a new night starts with fresh ones.
        sim.registry.clear()
        for spec in parse_beacons(self.beacons):
            if spec.address.startswith(SIM_PREFIX):
                sim.registry.get(spec.address, spec.profile)
        await self.relay.start()
        config = DaemonConfig(
            bot_url=self.relay.url,
            venue_token=self.token,
            state_file=self.state_file,
            beacons=self.beacons,
            printer=self.printer,
            # A compressed night needs the daemon to notice changes within a second or two.
            poll_timeout=5.0,
            status_interval=1.0,
            retry_min=0.25,
            print_retry_max=2.0,
            beacon_retry_max=2.0,
            uplink_retry_max=2.0,
        )
        self._task = asyncio.create_task(self._run(config), name="venue-daemon")
        self.timeline.add(
            "setup",
            f"Venue daemon started: beacons {self.beacons or 'none'}, printer {self.printer}",
        )

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, STOP_TIMEOUT_S)
            except TimeoutError:
                logger.error("Venue daemon did not stop within %.0f s", STOP_TIMEOUT_S)
        await self.relay.close()

    async def _run(self, config: DaemonConfig) -> None:
        try:
            await run_daemon(config, stop=self._stop)
        except Exception as exc:  # noqa: BLE001 - reported as a rehearsal problem
            logger.exception("Venue daemon failed")
            self.problem = f"{type(exc).__name__}: {exc}"
            self.timeline.add("problem", f"Venue daemon stopped with an error: {self.problem}")

    def set_printer_offline(self, offline: bool) -> bool:
        """Switch the preview printer off or on; return False when the printer is real."""
        if self.preview_dir is None:
            return False
        moved = self.preview_dir.with_name(self.preview_dir.name + ".offline")
        if offline:
            self.preview_dir.rename(moved)
            self.preview_dir.write_text("The rehearsal switched this printer off.\n")
        else:
            self.preview_dir.unlink()
            moved.rename(self.preview_dir)
        return True

    def slip_previews(self) -> list[Path]:
        """List printed announcement slips, oldest first."""
        if self.preview_dir is None or not self.preview_dir.is_dir():
            return []
        found = list(self.preview_dir.glob("*-announcement.png"))
        return sorted(found, key=lambda path: path.stat().st_mtime)

    def previews(self) -> list[Path]:
        if self.preview_dir is None or not self.preview_dir.is_dir():
            return []
        return sorted(self.preview_dir.glob("*.png"), key=lambda path: path.stat().st_mtime)

    def beacon_url(self) -> str:
        """Return the URL a phone reads from the venue's URL beacons now, or ''."""
        for beacon in self.simulated_beacons:
            if beacon.profile != "nus" and (url := beacon.shown()):
                return url
        # Real beacons cannot be read back here: take what the daemon last wrote to them.
        stored = self._query("SELECT value FROM meta WHERE key = 'beacon_content'")
        return json.loads(stored[0][0]).get("url", "") if stored else ""

    def stored_prints(self) -> list[StoredPrint]:
        rows = self._query(
            "SELECT print_job_id, kind, status, attempts, printed_at FROM print_jobs ORDER BY id"
        )
        return [StoredPrint(*row) for row in rows]

    def queued_prints(self) -> int:
        return sum(1 for job in self.stored_prints() if job.status == "queued")

    def beacon_records(self) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT address, profile, event_id, written_event_id, failures, last_error, "
            "gatt_writes FROM beacons ORDER BY address"
        )
        names = (
            "address",
            "profile",
            "event_id",
            "written_event_id",
            "failures",
            "last_error",
            "gatt_writes",
        )
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.state_file.exists():
            return []
        # A read-only connection of its own, so reads never contend with the daemon's writes.
        with contextlib.closing(
            sqlite3.connect(f"file:{self.state_file}?mode=ro", uri=True, timeout=5)
        ) as db:
            try:
                return db.execute(sql).fetchall()
            except sqlite3.OperationalError as exc:
                logger.debug("Venue state not readable yet: error=%s", exc)
                return []
