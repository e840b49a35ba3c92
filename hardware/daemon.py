"""The venue daemon (`micropop hardware`): feed in, beacon writes and prints out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from hardware import eddystone
from hardware.adapter import Adapter
from hardware.beacons import BeaconFleet, parse_beacons
from hardware.config import DaemonConfig
from hardware.errors import ConfigError, FeedError, InvalidURL
from hardware.feed_client import FeedClient, FeedEvent, report_time
from hardware.printing import open_printer
from hardware.spooler import Spooler
from hardware.state import BeaconContent, StateStore

logger = logging.getLogger(__name__)

# Event kinds whose link and text go to the beacons.
BEACON_KINDS = ("announcement", "drop_live")

__all__ = ["DaemonConfig", "VenueDaemon", "run_daemon"]


async def run_daemon(config: DaemonConfig, *, stop: asyncio.Event | None = None) -> None:
    """Run the venue daemon until `stop` is set, or until the task is cancelled.

    Raises:
        ConfigError: the venue token, beacon list or printer URI is missing or invalid.
    """
    if not config.venue_token.get_secret_value():
        raise ConfigError(
            "MICROPOP_HW_VENUE_TOKEN is missing: set it to this venue's token from the bot's "
            "MICROPOP_VENUE_TOKENS, e.g. MICROPOP_HW_VENUE_TOKEN=a-random-token"
        )
    daemon = VenueDaemon(config)
    try:
        await daemon.run(stop or asyncio.Event())
    finally:
        await daemon.close()


class VenueDaemon:
    """Stores feed events as local jobs, then writes beacons and prints from the local store.

    The feed, the beacons, the printer and the reports to the bot each run as their own task,
    so an unreachable bot never stops beacon writes or prints, and a dead printer or beacon
    never stops the feed.
    """

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        specs = parse_beacons(config.beacons)
        printer = open_printer(config.printer) if config.printer else None
        self.store = StateStore(config.state_file)
        self.client = FeedClient(config.bot_url, config.venue_token.get_secret_value())
        self.problems: dict[str, str] = {}
        self.uplink_down_since: float | None = None
        self._report_now = asyncio.Event()

        self.fleet: BeaconFleet | None = None
        if specs:
            adapter = Adapter(
                config.adapter,
                scan_timeout=config.scan_timeout,
                connect_timeout=config.connect_timeout,
            )
            self.fleet = BeaconFleet(
                specs, self.store, adapter,
                retry_min_s=config.retry_min, retry_max_s=config.beacon_retry_max,
            )  # fmt: skip
        self.spooler: Spooler | None = None
        if printer is not None:
            self.spooler = Spooler(
                self.store, printer,
                retry_min_s=config.retry_min, retry_max_s=config.print_retry_max,
                on_printed=self._report_now.set,
            )  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        logger.info(
            "Venue daemon started: bot=%s cursor=%s beacons=%s printer=%s",
            self.config.bot_url, self.store.cursor,
            len(self.fleet.workers) if self.fleet else 0, self.config.printer or "none",
        )  # fmt: skip
        tasks = [
            asyncio.create_task(self._follow_feed(), name="feed"),
            asyncio.create_task(self._report(), name="reports"),
        ]
        if self.fleet is not None:
            tasks.append(asyncio.create_task(self.fleet.run(), name="beacons"))
        if self.spooler is not None:
            tasks.append(asyncio.create_task(self.spooler.run(), name="spooler"))
        stopper = asyncio.create_task(stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopper}:
                # A worker task only ends by raising, so the daemon stops with its error.
                task.result()
        finally:
            for task in [stopper, *tasks]:
                task.cancel()
            await asyncio.gather(stopper, *tasks, return_exceptions=True)
            await self._report_printed_quietly()
            logger.info("Venue daemon stopped: cursor=%s", self.store.cursor)

    async def close(self) -> None:
        await self.client.close()
        self.store.close()

    def status(self) -> dict[str, Any]:
        return {
            "cursor": self.store.cursor,
            "printer": self.spooler.status.as_dict() if self.spooler else None,
            "beacons": self.fleet.status() if self.fleet else [],
            "problems": sorted(self.problems.values()),
            "queued_prints": self.store.queued_print_jobs(),
            "reported_at": report_time(time.time()),
        }

    def store_event(self, event: FeedEvent) -> bool:
        """Store one feed event's print job and beacon content, or return False if seen before."""
        print_job = None
        if _should_print(event):
            print_job_id = event.payload.get("print_job_id")
            print_job = (print_job_id if isinstance(print_job_id, int) else None, event.payload)
        content = None
        # With no beacon configured there is nothing to write, and so no URL to check.
        if self.fleet is not None and event.kind in BEACON_KINDS:
            content = self._beacon_content(event)
        stored = self.store.store_event(
            event.id, event.kind, print_job=print_job, beacon_content=content
        )
        logger.info(
            "Feed event %s: event_id=%s kind=%s print=%s beacons=%s",
            "stored" if stored else "seen before", event.id, event.kind,
            print_job is not None, content is not None,
        )  # fmt: skip
        return stored

    async def _follow_feed(self) -> None:
        failures = 0
        while True:
            try:
                events = await self.client.fetch(self.store.cursor, self.config.poll_timeout)
            except FeedError as exc:
                failures += 1
                self._uplink_failed(exc, failures)
                delay = min(
                    self.config.retry_min * 2 ** (failures - 1), self.config.uplink_retry_max
                )
                await asyncio.sleep(delay)
                continue

            self._uplink_ok()
            failures = 0
            if not events:
                continue
            for event in events:
                self.store_event(event)
            # Jobs are stored before the ack, so a crash in between only repeats the events,
            # and the handled ids make the repeat a no-op.
            if self.fleet is not None:
                self.fleet.wake()
            if self.spooler is not None:
                self.spooler.wake()
            with contextlib.suppress(FeedError):
                await self.client.ack(self.store.cursor)

    async def _report(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.status_interval):
                    await self._report_now.wait()
            self._report_now.clear()
            try:
                await self._report_printed()
                await self.client.report_status(self.status())
            except FeedError as exc:
                logger.debug("Report to the bot failed, retrying later: error=%s", exc)

    async def _report_printed(self) -> None:
        ids = self.store.unreported_printed()
        if ids:
            newly = await self.client.report_printed(ids)
            self.store.mark_reported(ids)
            logger.info("Printed jobs reported: count=%s new=%s", len(ids), len(newly))

    async def _report_printed_quietly(self) -> None:
        with contextlib.suppress(FeedError, TimeoutError):
            async with asyncio.timeout(2):
                await self._report_printed()

    def _uplink_failed(self, exc: FeedError, failures: int) -> None:
        if self.uplink_down_since is None:
            self.uplink_down_since = time.monotonic()
            logger.warning("Feed unreachable, beacons and printer go on: error=%s", exc)
        else:
            logger.debug("Feed still unreachable: failures=%s error=%s", failures, exc)

    def _uplink_ok(self) -> None:
        if self.uplink_down_since is not None:
            logger.info(
                "Feed reachable again: down_for=%.1fs", time.monotonic() - self.uplink_down_since
            )
            self.uplink_down_since = None

    def _beacon_content(self, event: FeedEvent) -> BeaconContent:
        assert self.fleet is not None
        payload = event.payload
        text = str(payload.get("text") or "")
        if event.kind == "drop_live" and not text:
            text = f"{payload.get('title', 'Drop')} is live now"
        url = str(payload.get("short_url") or "")
        if not self.fleet.shows_urls:
            return BeaconContent(event.id, url, text)
        try:
            eddystone.encode_url(url)
        except InvalidURL as exc:
            # Keep the last URL that fitted, so URL beacons go on showing a working link.
            previous = self.store.latest_beacon_content()
            # The bot alerts once per new problem text. Keeping the first text while the fault
            # lasts stops each later announcement, with its own short code, from alerting.
            if "beacon_url" not in self.problems:
                self.problems["beacon_url"] = f"URL beacons keep their previous link: {exc}"
                logger.error("Beacon URL unusable: event_id=%s error=%s", event.id, exc)
            else:
                logger.debug("Beacon URL still unusable: event_id=%s error=%s", event.id, exc)
            url = previous.url if previous else ""
        else:
            self.problems.pop("beacon_url", None)
        return BeaconContent(event.id, url, text)


def _should_print(event: FeedEvent) -> bool:
    payload = event.payload
    if event.kind in ("poster", "receipt", "reprint"):
        return True
    if event.kind == "announcement":
        return bool(payload.get("print", True))
    return bool(payload.get("print_job_id") or payload.get("print", False))
