"""One limiter for every Telegram send: overall, per private chat and per group, with priorities.

Telegram's documented broadcast limits are about 30 messages per second overall, 1 per second
in a private chat and 20 per minute in a group. The limiter keeps a margin under each (arrival
times at Telegram jitter by a few milliseconds), pauses everything for `retry_after` after a
429, and serves waiting interactive replies before broadcast sends.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


class Priority(enum.IntEnum):
    INTERACTIVE = 0  # replies to an attendee's own action
    BROADCAST = 1  # fan-out from the outbox


@dataclass(frozen=True)
class RateConfig:
    global_per_s: float = 30.0
    private_per_s: float = 1.0
    group_per_min: float = 20.0
    # Share of each ceiling actually used; the rest absorbs network jitter.
    safety: float = 0.97

    @property
    def global_interval(self) -> float:
        return 1.0 / (self.global_per_s * self.safety)

    @property
    def private_interval(self) -> float:
        return 1.0 / (self.private_per_s * self.safety)

    @property
    def group_window(self) -> float:
        return 60.0 / self.safety


class Limiter:
    """Grants send slots; `acquire` returns when a send may go out now."""

    def __init__(self, config: RateConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.paused_until = 0.0
        self._next_global = 0.0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()
        self._wakeup = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._private_next: dict[int, float] = {}
        self._group_sent: dict[int, deque[float]] = {}

    async def acquire(
        self, chat_id: int | None, priority: Priority = Priority.INTERACTIVE
    ) -> None:
        """Wait for the chat's own budget, then for an overall slot in priority order."""
        if chat_id is not None:
            await self._acquire_chat(chat_id)
        await self._acquire_global(priority)

    def pause(self, seconds: float) -> None:
        """Hold every send for `seconds` (a 429's retry_after, or the Bot API being down)."""
        until = self.clock() + seconds
        if until > self.paused_until:
            self.paused_until = until
            logger.warning("Sending paused: seconds=%.1f", seconds)
            self._wakeup.set()

    def pause_remaining(self) -> float:
        return max(0.0, self.paused_until - self.clock())

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None

    async def _acquire_chat(self, chat_id: int) -> None:
        now = self.clock()
        if chat_id > 0:
            slot = max(now, self._private_next.get(chat_id, 0.0))
            self._private_next[chat_id] = slot + self.config.private_interval
        else:
            slot = self._reserve_group_slot(chat_id, now)
        if slot > now:
            await asyncio.sleep(slot - now)

    def _reserve_group_slot(self, chat_id: int, now: float) -> float:
        window = self.config.group_window
        capacity = max(1, int(self.config.group_per_min))
        sent = self._group_sent.setdefault(chat_id, deque())
        while sent and sent[0] <= now - window:
            sent.popleft()
        slot = now if len(sent) < capacity else sent[len(sent) - capacity] + window
        sent.append(slot)
        return slot

    async def _acquire_global(self, priority: Priority) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(priority), next(self._sequence), future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._grant_loop())
        self._wakeup.set()
        try:
            await future
        except asyncio.CancelledError:
            if not future.done():
                future.cancel()
            raise

    async def _grant_loop(self) -> None:
        while True:
            while not self._waiters:
                self._wakeup.clear()
                await self._wakeup.wait()
            now = self.clock()
            ready_at = max(self._next_global, self.paused_until)
            if ready_at > now:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), ready_at - now)
                except TimeoutError:
                    pass
                continue
            _, _, future = heapq.heappop(self._waiters)
            if future.done():  # the waiter was cancelled
                continue
            future.set_result(None)
            self._next_global = max(now, self._next_global) + self.config.global_interval
