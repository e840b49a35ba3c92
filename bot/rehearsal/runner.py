"""`micropop rehearse`: play a whole night on one machine and report what happened.

The real bot service runs on SQLite against the built-in Bot API emulator with Telegram's
limits. The real venue daemon runs in-process with simulated beacons and a preview printer.
The organisers set up the night through the console, and simulated guests arrive, browse and
rush the drop. Afterwards the figures are checked against the night's invariants.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import tempfile
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from rich.console import Console

from bot.db.engine import Database, create_database
from bot.emulator import RateLimits
from bot.errors import ConfigError
from bot.logs import QUIET_LOGGERS, RedactingFilter
from bot.rehearsal import options as rehearsal_options
from bot.rehearsal.arrivals import Arrivals
from bot.rehearsal.bluetooth import check_bluez
from bot.rehearsal.clock import NightClock
from bot.rehearsal.crowd import Crowd, plan
from bot.rehearsal.faults import FaultInjector, segment_needs
from bot.rehearsal.night import (
    Night,
    NightResult,
    Settled,
    collect,
    settle,
    unfinished_updates,
)
from bot.rehearsal.options import RehearsalOptions
from bot.rehearsal.organiser import Organiser
from bot.rehearsal.progress import LiveStatus
from bot.rehearsal.report import replace_file, write_report
from bot.rehearsal.script import CLOSE_AT, EVENT_TITLE, NightScript, tempo
from bot.rehearsal.stage import BOT_TOKEN, Stage
from bot.rehearsal.summary import print_summary
from bot.rehearsal.timeline import Timeline, plural
from bot.rehearsal.venue import VenueRig, venue_tokens

logger = logging.getLogger(__name__)

__all__ = ["RehearsalOptions", "run_rehearsal"]

# The venue's public domain as beacons show it. It is reserved for documentation (RFC 2606),
# so nothing is ever sent there, because guests in the rehearsal request the same path on the
# bot's web port on 127.0.0.1. Its ".com/" ending takes one of the 17 bytes an Eddystone-URL
# frame carries.
PUBLIC_URL = "https://example.com"
# Files of an earlier run in the rehearsal directory, replaced on every run.
OLD_FILES = ("micropop.sqlite3", "hardware.sqlite3")
CROWD_GRACE_S = 90.0

T = TypeVar("T")


# Exit status after Ctrl-C, as shells report a process ended by SIGINT (128 + 2).
INTERRUPTED_STATUS = 130


class Interrupted(Exception):
    """Ctrl-C arrived before the night started, so there is nothing to report."""


async def run_rehearsal(options: RehearsalOptions) -> int:
    """Run the rehearsal and return the exit status.

    The status is 0 when every invariant held, 1 when one broke, 2 for invalid options and
    130 after Ctrl-C. Ctrl-C during the night stops it early and reports the night so far,
    marked interrupted. A second Ctrl-C stops at once without a report.
    """
    console = Console(stderr=options.json_output)
    try:
        rehearsal_options.check(options)
        if rehearsal_options.real_beacons(options.beacons):
            await check_bluez()
    except ConfigError as exc:
        console.print(f"[red]micropop rehearse: {exc}[/]", highlight=False)
        return 2

    report_dir = options.report_dir()
    _clear_previews(report_dir)
    started = time.monotonic()
    stop = asyncio.Event()
    rehearsal = asyncio.current_task()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, _interrupt, stop, rehearsal, console)
    try:
        with tempfile.TemporaryDirectory(prefix="micropop-rehearsal-") as scratch:
            workdir = options.directory or Path(scratch)
            _clear_database(workdir)
            with _log_to(report_dir / "rehearsal.log"):
                result = await _rehearse(options, workdir, report_dir, console, stop)
    except (Interrupted, asyncio.CancelledError) as exc:
        if not stop.is_set():
            raise
        when = "before the night started" if isinstance(exc, Interrupted) else "at once"
        console.print(f"micropop rehearse: stopped {when}, no report written", highlight=False)
        return INTERRUPTED_STATUS
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    result.figures["timing"]["wall_time_s"] = round(time.monotonic() - started, 1)

    figures = result.figures
    if stop.is_set():
        figures["interrupted"] = True
        figures["verdict"] = "interrupted"
    replace_file(report_dir / "figures.json", json.dumps(figures, indent=2, ensure_ascii=False))
    write_report(report_dir, figures, result.series)
    print_summary(console, figures, report_dir)
    if options.json_output:
        print(json.dumps(figures, ensure_ascii=False))
    if stop.is_set():
        return INTERRUPTED_STATUS
    return 0 if figures["verdict"] == "pass" else 1


def _interrupt(stop: asyncio.Event, rehearsal: asyncio.Task | None, console: Console) -> None:
    if stop.is_set():
        if rehearsal is not None:
            rehearsal.cancel()
        return
    stop.set()
    console.print(
        "micropop rehearse: interrupted, stopping the night and writing the report so far "
        "(Ctrl-C again to quit without one)",
        highlight=False,
    )


async def _unless_stopped(step: Awaitable[T], stop: asyncio.Event) -> T:
    """Await `step`, or cancel it and raise Interrupted when `stop` is set first."""
    task = asyncio.ensure_future(step)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise Interrupted
    return task.result()


async def _rehearse(
    options: RehearsalOptions,
    workdir: Path,
    report_dir: Path,
    console: Console,
    stop: asyncio.Event,
) -> NightResult:
    clock = NightClock(options.speed, tempo(options.attendees, segment_needs(options.faults)))
    timeline = Timeline(clock)
    overrides: dict[str, Any] = {
        "venue_tokens": venue_tokens(),
        "public_base_url": PUBLIC_URL,
    }
    status = LiveStatus(console, clock, timeline, options.live)
    async with Stage.on_sqlite(workdir, limits=RateLimits(), **overrides) as stage:
        monitor = create_database(stage.database_url)
        venue = VenueRig(stage, workdir, options.beacons, options.printer_uri(), timeline)
        http = aiohttp.ClientSession()
        try:
            with status:
                started = time.monotonic()
                night = await _unless_stopped(
                    _set_up(options, stage, monitor, venue, http, timeline, report_dir), stop
                )
                status.counters.stock = night.script.stock
                setup_s = time.monotonic() - started
                settled = await _play(night, status, stop)
                timing = {"setup_s": round(setup_s, 1), "settle_s": round(settled.seconds, 1)}
                return await collect(night, settled, timing)
        finally:
            await http.close()
            await venue.stop()
            await monitor.dispose()
            if not _emulator_running(stage):
                # A fault may have left the Bot API cut; the stage stops a running emulator.
                await stage.restore_uplink()


async def _set_up(
    options: RehearsalOptions,
    stage: Stage,
    monitor: Database,
    venue: VenueRig,
    http: aiohttp.ClientSession,
    timeline: Timeline,
    report_dir: Path,
) -> Night:
    """Start the venue, let the organisers set up, print the poster and plan the crowd."""
    clock = timeline.clock
    await venue.start()
    organiser = Organiser(stage, monitor, timeline)
    script = NightScript(stage, organiser, clock, timeline, options.attendees)
    await script.set_up()

    arrivals = Arrivals(stage, venue, http, timeline, report_dir)
    arrivals.prepare(script.event_id or 0, EVENT_TITLE)
    crowd = Crowd(stage, arrivals, clock, timeline, plan(options.attendees, options.seed))
    faults = FaultInjector(
        options.faults,
        stage,
        venue,
        monitor,
        clock,
        timeline,
        lambda: unfinished_updates(monitor, {**organiser.updates, **crowd.updates}),
    )
    return Night(
        options, stage, monitor, venue, clock, timeline, script, organiser, arrivals, crowd, faults
    )


async def _play(night: Night, status: LiveStatus, stop: asyncio.Event) -> Settled:
    """Run the night from doors to close, then wait until everything settled.

    When `stop` is set first, the night ends there and nothing is waited for.
    """
    clock, timeline = night.clock, night.timeline
    clock.start()
    timeline.add(
        "cue",
        f"Doors open: {plural(night.options.attendees, 'guest', 'guests')} expected, "
        f"the night takes {clock.offset(CLOSE_AT):.0f} s",
    )
    await night.script.open_doors()
    sources = {"crowd": night.crowd, "venue": night.venue}
    follow = asyncio.create_task(status.follow(night.monitor, night.stage.emulator, sources))
    tasks = [
        asyncio.create_task(night.crowd.run(night.script.drop_id), name="crowd"),
        asyncio.create_task(night.script.live_set(), name="live-set"),
        asyncio.create_task(night.faults.run(), name="faults"),
    ]

    try:
        await _unless_stopped(clock.sleep_until(CLOSE_AT), stop)
    except Interrupted:
        timeline.add("problem", "Interrupted by Ctrl-C before doors closed")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        settled = Settled(0.0, ["interrupted by Ctrl-C before close"])
    else:
        closed_at = time.monotonic()
        timeline.add("cue", "Doors close")
        await _finish(tasks, timeline)
        settled = await settle(night.monitor, night.venue, timeline, closed_at)
    names = {**night.organiser.updates, **night.crowd.updates}
    unfinished = await unfinished_updates(night.monitor, names)
    if unfinished:
        # The bot's shutdown waits for these handlers, up to its drain timeout.
        timeline.add("bot", f"Handlers still running at close: {'; '.join(unfinished)}")
    follow.cancel()
    await asyncio.gather(follow, return_exceptions=True)
    return settled


async def _finish(tasks: list[asyncio.Task[None]], timeline: Timeline) -> None:
    """Give the night's tasks time to end after close, and report those that failed."""
    done, pending = await asyncio.wait(tasks, timeout=CROWD_GRACE_S)
    for task in pending:
        timeline.add(
            "problem", f"{task.get_name()} still running {CROWD_GRACE_S:.0f} s after close"
        )
        task.cancel()
    for task in done:
        error = task.exception()
        if error is not None:
            logger.error("Rehearsal task failed: task=%s", task.get_name(), exc_info=error)
            timeline.add("problem", f"{task.get_name()} failed: {error!r}")


def _emulator_running(stage: Stage) -> bool:
    try:
        stage.emulator.base_url  # noqa: B018 - the property raises while stopped
    except RuntimeError:
        return False
    return True


def _clear_previews(report_dir: Path) -> None:
    """Remove an earlier run's print previews, because the new run writes its own in place.

    The earlier report.html, figures.json and rehearsal.log stay until this run replaces them.
    """
    for folder in ("prints", "prints.offline"):
        path = report_dir / folder
        if path.is_file():
            path.unlink()
        elif path.is_dir():
            for picture in path.glob("*.png*"):
                picture.unlink()
    report_dir.mkdir(parents=True, exist_ok=True)


def _clear_database(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in OLD_FILES:
        for suffix in ("", "-wal", "-shm"):
            (workdir / f"{name}{suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Send every log record of the run to a file, and none to the terminal."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    # The earlier run's log stays until this one is complete.
    partial = path.with_name(f".{path.name}.partial")
    handler = logging.FileHandler(partial, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # The rehearsal's bot token is made up, but the log is kept, so it is redacted like a real one.
    handler.addFilter(RedactingFilter([BOT_TOKEN]))
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    quieted = {name: logging.getLogger(name).level for name in (*QUIET_LOGGERS, "aiogram.event")}
    for name in quieted:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        handler.close()
        os.replace(partial, path)
        root.handlers[:], root.level = saved
        for name, level in quieted.items():
            logging.getLogger(name).setLevel(level)
