"""Faults on demand: the uplinks drop, the printer goes offline, 429s, the bot restarts.

Each fault is injected at a fixed point of the night, lifted after a while, and then watched
until the night is whole again: every delivery settled, every print done, the venue caught up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import Announcement, Delivery, DeliveryStatus, HardwareEvent, Venue
from bot.emulator import FaultKind
from bot.rehearsal.clock import NightClock
from bot.rehearsal.script import DROP_AT, LIVE_SET_AT, LIVE_SET_TEXT, SCHEDULED
from bot.rehearsal.stage import Stage
from bot.rehearsal.timeline import Timeline, plural
from bot.rehearsal.venue import VENUE_NAME, VenueRig

logger = logging.getLogger(__name__)

# A fault shorter than this in real time would hardly be noticed by the retry loops it tests.
MIN_FAULT_S = 3.0
RECOVERY_TIMEOUT_S = 60.0
FLOOD_RESPONSES = 3
FLOOD_RETRY_AFTER_S = 2
UNSETTLED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
RAFFLE = next(item for item in SCHEDULED if item.name == "raffle")
LAST_CALL = next(item for item in SCHEDULED if item.name == "last-call")
# Night minutes of the faults with a window: (start, end).
PRINTER_OFFLINE = (DROP_AT + 5, DROP_AT + 45)
VENUE_UPLINK_DOWN = (DROP_AT + 10, DROP_AT + 40)
BOT_API_DOWN = (LAST_CALL.minute + 1, LAST_CALL.minute + 11)
# Real seconds each fault adds to the segment of the night it happens in, keyed by the
# segment's first minute. A fault needs its own length plus time to catch up, so that it
# runs into neither the next segment's cue nor another fault.
SEGMENT_NEEDS = {
    "flood-429": ((LIVE_SET_AT, FLOOD_RESPONSES * FLOOD_RETRY_AFTER_S + 2.0),),
    "printer-offline": ((DROP_AT, 2 * MIN_FAULT_S),),
    "uplink-drop": ((DROP_AT, 2 * MIN_FAULT_S), (LAST_CALL.minute, MIN_FAULT_S + 6.0)),
    "bot-restart": ((RAFFLE.minute, 8.0),),
}


def segment_needs(names: tuple[str, ...]) -> dict[float, float]:
    """Return the extra real seconds the requested faults need, by segment start minute.

    Faults in one segment overlap in time, so the segment needs the longest of them.
    """
    needs: dict[float, float] = {}
    for name in names:
        for start, seconds in SEGMENT_NEEDS[name]:
            needs[start] = max(needs.get(start, 0.0), seconds)
    return needs


@dataclass
class FaultRecord:
    """One injected fault and how the night recovered; times are seconds after doors."""

    name: str
    description: str
    injected_at: float | None = None
    lifted_at: float | None = None
    recovered_at: float | None = None
    detail: str = ""
    skipped: str = ""

    @property
    def recovered(self) -> bool:
        return bool(self.skipped) or self.recovered_at is not None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "recovered": self.recovered}


class FaultInjector:
    """Runs the requested faults alongside the night."""

    def __init__(
        self,
        names: tuple[str, ...],
        stage: Stage,
        venue: VenueRig,
        monitor: Database,
        clock: NightClock,
        timeline: Timeline,
        unfinished: Callable[[], Awaitable[list[str]]],
    ) -> None:
        self.names = names
        # Names the updates whose handlers are still running, which a restart waits for.
        self.unfinished = unfinished
        self.stage = stage
        self.venue = venue
        self.monitor = monitor
        self.clock = clock
        self.timeline = timeline
        self.records: list[FaultRecord] = []

    async def run(self) -> None:
        plans: dict[str, Callable[[], Awaitable[None]]] = {
            "flood-429": self._flood,
            "printer-offline": self._printer_offline,
            "uplink-drop": self._uplinks,
            "bot-restart": self._restart,
        }
        await asyncio.gather(*(plans[name]() for name in self.names))

    def _record(self, name: str, description: str) -> FaultRecord:
        record = FaultRecord(name, description)
        self.records.append(record)
        return record

    def _injected(self, record: FaultRecord) -> None:
        record.injected_at = round(self.clock.elapsed(), 2)
        self.timeline.add("fault", f"{record.name}: {record.description}")

    def _lifted(self, record: FaultRecord, text: str) -> None:
        record.lifted_at = round(self.clock.elapsed(), 2)
        self.timeline.add("fault", f"{record.name}: {text}")

    async def _recovered(self, record: FaultRecord, check: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            if await check():
                record.recovered_at = round(self.clock.elapsed(), 2)
                after = record.recovered_at - (record.lifted_at or record.injected_at or 0.0)
                self.timeline.add(
                    "recovery",
                    f"{record.name}: recovered {after:.1f} s after it ended; {record.detail}",
                )
                return
            await asyncio.sleep(0.25)
        self.timeline.add(
            "problem", f"{record.name}: not recovered within {RECOVERY_TIMEOUT_S:.0f} s"
        )

    def _end_minute(self, start: float, end: float) -> float:
        return max(end, self.clock.after(start, MIN_FAULT_S))

    async def _flood(self) -> None:
        record = self._record(
            "flood-429",
            f"{FLOOD_RESPONSES} flood-control 429s (retry_after {FLOOD_RETRY_AFTER_S} s) "
            "during the live-set broadcast",
        )
        await self.clock.sleep_until(LIVE_SET_AT)
        announcement_id = await self._wait_sending(LIVE_SET_TEXT)
        rule = self.stage.emulator.faults.add(
            FaultKind.FLOOD,
            "sendMessage",
            count=FLOOD_RESPONSES,
            skip=3,
            retry_after=FLOOD_RETRY_AFTER_S,
        )
        self._injected(record)
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while not rule.exhausted and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if rule in self.stage.emulator.faults.rules:
            self.stage.emulator.faults.rules.remove(rule)
        self._lifted(record, f"{rule.hits} of {FLOOD_RESPONSES} 429s sent")
        record.detail = f"{rule.hits} injected 429s, live-set broadcast settled"
        await self._recovered(record, lambda: self._settled(announcement_id))

    async def _printer_offline(self) -> None:
        record = self._record("printer-offline", "the venue printer refuses every job")
        if self.venue.preview_dir is None:
            record.skipped = "a real printer (--printer) is not switched off by the rehearsal"
            self.timeline.add("fault", f"printer-offline skipped: {record.skipped}")
            return
        start, end = PRINTER_OFFLINE
        await self.clock.sleep_until(start)
        self.venue.set_printer_offline(True)
        self._injected(record)
        await self.clock.sleep_until(self._end_minute(start, end))
        self.venue.set_printer_offline(False)
        self._lifted(record, "printer back online")

        async def drained() -> bool:
            prints = self.venue.stored_prints()
            waited = sum(1 for job in prints if job.attempts)
            failures = sum(job.attempts for job in prints)
            record.detail = (
                f"{plural(waited, 'job', 'jobs')} waited, "
                f"{plural(failures, 'failed attempt', 'failed attempts')}, all printed"
            )
            return not any(job.status == "queued" for job in prints)

        await self._recovered(record, drained)

    async def _uplinks(self) -> None:
        await asyncio.gather(self._venue_uplink(), self._bot_api_uplink())

    async def _venue_uplink(self) -> None:
        record = self._record("uplink-drop", "the venue daemon's uplink to the bot is cut")
        start, end = VENUE_UPLINK_DOWN
        await self.clock.sleep_until(start)
        await self.venue.relay.cut()
        self._injected(record)
        await self.clock.sleep_until(self._end_minute(start, end))
        await self.venue.relay.restore()
        self._lifted(record, "venue uplink restored")
        record.detail = "the daemon caught up with the feed"
        await self._recovered(record, self._venue_caught_up)

    async def _bot_api_uplink(self) -> None:
        record = self._record("uplink-drop", "the Bot API is unreachable for the bot")
        start, end = BOT_API_DOWN
        await self.clock.sleep_until(start)
        await self.stage.cut_uplink()
        self._injected(record)
        await self.clock.sleep_until(self._end_minute(start, end))
        await self.stage.restore_uplink()
        self._lifted(record, "Bot API reachable again")
        record.detail = "every queued delivery settled"
        await self._recovered(record, lambda: self._settled(None))

    async def _restart(self) -> None:
        record = self._record(
            "bot-restart", "the bot service restarts in the middle of the raffle broadcast"
        )
        await self.clock.sleep_until(RAFFLE.minute)
        announcement_id = await self._wait_sending(RAFFLE.text, share_sent=0.2)
        in_flight = await self._count(announcement_id, UNSETTLED)
        handlers = await self.unfinished()
        self._injected(record)
        started = time.monotonic()
        await self.stage.restart_bot()
        took = time.monotonic() - started
        self._lifted(record, f"bot service running again after {took:.1f} s")
        deliveries = plural(in_flight, "raffle delivery was", "raffle deliveries were")
        record.detail = f"{deliveries} unsettled at the restart, all settled"
        if handlers:
            record.detail += f"; the stop waited for running handlers: {'; '.join(handlers)}"
        await self._recovered(record, lambda: self._settled(announcement_id))

    async def _wait_sending(self, text: str, share_sent: float = 0.0) -> int | None:
        """Wait until an announcement fanned out and sent `share_sent` of its deliveries."""
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            async with self.monitor.transaction(readonly=True) as session:
                row = await session.scalar(
                    select(Announcement.id).where(
                        Announcement.text == text, Announcement.fanned_out_at.is_not(None)
                    )
                )
            if row is not None:
                total = await self._count(row, None)
                sent = await self._count(row, (DeliveryStatus.SENT,))
                unsettled = await self._count(row, UNSETTLED)
                if sent >= share_sent * total or not unsettled:
                    return row
            await asyncio.sleep(0.05)
        return None

    async def _count(
        self, announcement_id: int | None, statuses: tuple[DeliveryStatus, ...] | None
    ) -> int:
        statement = select(func.count()).select_from(Delivery)
        if announcement_id is not None:
            statement = statement.where(Delivery.announcement_id == announcement_id)
        if statuses is not None:
            statement = statement.where(Delivery.status.in_(statuses))
        async with self.monitor.transaction(readonly=True) as session:
            return await session.scalar(statement) or 0

    async def _settled(self, announcement_id: int | None) -> bool:
        return await self._count(announcement_id, UNSETTLED) == 0

    async def _venue_caught_up(self) -> bool:
        async with self.monitor.transaction(readonly=True) as session:
            latest = await session.scalar(select(func.max(HardwareEvent.id))) or 0
            acked = await session.scalar(
                select(Venue.acked_cursor).where(Venue.name == VENUE_NAME)
            )
        return acked is not None and acked >= latest
