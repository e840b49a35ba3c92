"""The send limiter shared by every bot process through Redis, for one bot token.

Telegram counts its limits per bot, not per process, so with several processes the budgets
live in Redis: one Lua script decides each send atomically against the overall slot, the
chat's budget and a shared pause. Times come from the Redis server's clock, so processes on
different hosts agree. Interactive replies stay ahead of broadcast across processes: a process
whose interactive reply was rejected registers a demand, and broadcast sends are rejected while
any demand is live.

Each process runs one grant loop that calls Redis for its most urgent ready waiter, so a
process makes one Redis call at a time however many sends wait in it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.delivery.limiter import Priority, RateConfig

logger = logging.getLogger(__name__)

# Decide one send: returns {1, 0, "granted"} or {0, wait in microseconds, reason}. Reasons:
# "pause" (a 429 or an unreachable Bot API pauses every send), "chat" (the chat's own budget),
# "priority" (an interactive reply waits somewhere), "global" (the overall slot is taken).
ACQUIRE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local kind = ARGV[1]
local interactive = ARGV[2] == '0'
local global_interval = tonumber(ARGV[3])
local private_interval = tonumber(ARGV[4])
local group_window = tonumber(ARGV[5])
local group_capacity = tonumber(ARGV[6])
local demand_margin = tonumber(ARGV[9])
local catch_up = tonumber(ARGV[10])

local function reject(wait, reason)
  if interactive and reason ~= 'chat' then
    redis.call('ZADD', KEYS[3], now + wait + demand_margin, ARGV[7])
    redis.call('PEXPIRE', KEYS[3], 60000)
  end
  return {0, math.ceil(wait * 1000000), reason}
end

local paused_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused_until > now then
  return reject(paused_until - now, 'pause')
end

if kind == 'private' then
  local ready_at = tonumber(redis.call('GET', KEYS[4]) or '0')
  if ready_at > now then
    return reject(ready_at - now, 'chat')
  end
elseif kind == 'group' then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - group_window)
  local count = redis.call('ZCARD', KEYS[4])
  if count >= group_capacity then
    local index = count - group_capacity
    local oldest = redis.call('ZRANGE', KEYS[4], index, index, 'WITHSCORES')
    return reject(tonumber(oldest[2]) + group_window - now, 'chat')
  end
end

if not interactive then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) > 0 then
    return reject(global_interval, 'priority')
  end
end

local next_slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if next_slot > now then
  return reject(next_slot - now, 'global')
end

-- A grant at most `catch_up` late keeps the slot grid, so the latency of each call does not
-- add up to a lower rate; after a longer gap the grid restarts from now.
local base = now
if now - next_slot <= catch_up then
  base = next_slot
end
redis.call('SET', KEYS[1], string.format('%.6f', base + global_interval), 'PX', 60000)
if interactive then
  redis.call('ZREM', KEYS[3], ARGV[7])
end
if kind == 'private' then
  local ttl = math.ceil(private_interval * 1000) + 1000
  redis.call('SET', KEYS[4], string.format('%.6f', now + private_interval), 'PX', ttl)
elseif kind == 'group' then
  redis.call('ZADD', KEYS[4], now, ARGV[8])
  redis.call('PEXPIRE', KEYS[4], math.ceil(group_window * 1000) + 1000)
end
return {1, 0, 'granted'}
"""

# Extend the shared pause to now + ARGV[1] seconds, never shortening it, and return what is left.
PAUSE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wanted = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if wanted > current then
  redis.call('SET', KEYS[1], string.format('%.6f', wanted), 'PX', math.ceil(ARGV[1] * 1000) + 1000)
  return tostring(wanted - now)
end
return tostring(current - now)
"""

# Share of each configured limit that processes sharing the budget use. Sends granted in one
# process reach Telegram through separate connections of several processes, and a process
# that stalls for a moment after its grant (CPU contention, garbage collection) lands its send
# next to later ones. In tests with three processes on two busy cores such stalls reached
# 100 ms, which 3 % of margin (one process's share) does not cover and 10 % (27 of 30 a second)
# does.
SHARED_SAFETY = 0.9
# A rejected interactive reply keeps broadcast sends away this long after its expected retry.
DEMAND_MARGIN_S = 0.2
# A grant this late still counts from its slot rather than from now. Each call reaches Redis a
# few milliseconds after the slot opened, and without this the overall rate would fall about
# 15 % short (25 instead of 29 a second, measured on a loaded 2-core machine). It is also the
# most by which two grants can come closer than the overall interval.
CATCH_UP_S = 0.005
# A grant taken up later than this is given up for a new one. A process that stalls between
# its grant and its send (CPU contention, garbage collection) would otherwise send in a slot
# that has passed, next to sends granted after it. In tests with three processes on two busy
# cores, 31 sends reached the Bot API within one second although 27 were granted per second.
STALE_GRANT_S = 0.05
# While Redis cannot be reached nothing is sent, and the loop tries again this often.
REDIS_RETRY_S = 1.0
# Error lines while Redis is down are logged at most this often.
ERROR_LOG_INTERVAL_S = 30.0


@dataclass(eq=False)
class _Waiter:
    priority: Priority
    sequence: int
    chat_id: int | None
    future: asyncio.Future[float]
    not_before: float = 0.0
    member: str = field(default_factory=lambda: secrets.token_hex(6))


class RedisLimiter:
    """A limiter with the interface of `Limiter` whose budgets live in Redis.

    Every process of one bot must use the same `scope` (prefix and bot id), and each process
    gets its own `process_id` for its interactive demand.
    """

    def __init__(
        self,
        redis: Redis,
        config: RateConfig,
        *,
        scope: str,
        process_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.config = config
        self.clock = clock
        self.paused_until = 0.0
        # A Redis Cluster hash tag keeps every key of one bot in one slot, as scripts need.
        self.keys_prefix = f"{{{scope}}}:limit"
        self.process_id = process_id or f"{os.getpid()}-{secrets.token_hex(4)}"
        self._acquire_script = redis.register_script(ACQUIRE_SCRIPT)
        self._pause_script = redis.register_script(PAUSE_SCRIPT)
        self._waiters: list[_Waiter] = []
        self._sequence = itertools.count()
        self._wakeup = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._pending_pauses: set[asyncio.Task[None]] = set()
        self._error_logged_at = -math.inf
        self.grants = 0
        self.stale_grants = 0

    async def acquire(
        self, chat_id: int | None, priority: Priority = Priority.INTERACTIVE
    ) -> None:
        """Wait until Redis grants a send to `chat_id` at `priority`."""
        sequence = next(self._sequence)
        while True:
            future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            self._waiters.append(_Waiter(priority, sequence, chat_id, future))
            if self._runner is None or self._runner.done():
                self._runner = asyncio.create_task(self._grant_loop())
            self._wakeup.set()
            try:
                granted_at = await future
            except asyncio.CancelledError:
                if not future.done():
                    future.cancel()
                raise
            late = self.clock() - granted_at
            if late <= STALE_GRANT_S:
                self.grants += 1
                return
            # The slot has passed: sent now, this send would land beside later ones. The
            # waiter keeps its place in the queue and requests a new slot.
            self.stale_grants += 1
            logger.debug("Stale send slot given up: late_s=%.3f chat_id=%s", late, chat_id)

    def finished(self) -> None:
        """Nothing to record: the shared budget keeps its margin in the slot spacing instead.

        Counting responses across processes would cost a Redis call per send.
        """

    def pause(self, seconds: float) -> None:
        """Hold every send of every process for `seconds` (a 429's retry_after)."""
        until = self.clock() + seconds
        if until > self.paused_until:
            self.paused_until = until
            logger.warning("Sending paused: seconds=%.1f scope=shared", seconds)
            self._wakeup.set()
        task = asyncio.get_running_loop().create_task(self._share_pause(seconds))
        self._pending_pauses.add(task)
        task.add_done_callback(self._pending_pauses.discard)

    def pause_remaining(self) -> float:
        return max(0.0, self.paused_until - self.clock())

    async def close(self) -> None:
        if self._pending_pauses:
            await asyncio.wait(self._pending_pauses, timeout=2.0)
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None

    def key(self, name: str) -> str:
        return f"{self.keys_prefix}:{name}"

    async def _share_pause(self, seconds: float) -> None:
        try:
            await self._pause_script(keys=[self.key("paused")], args=[f"{seconds:.3f}"])
        except RedisError as exc:
            self._log_redis_error("pause", exc)

    async def _grant_loop(self) -> None:
        while True:
            waiter = self._next_ready()
            if waiter is None:
                await self._sleep(self._until_next_ready(), better_than=None)
                continue
            try:
                granted, wait, reason = await self._ask(waiter)
            except RedisError as exc:
                self._log_redis_error("acquire", exc)
                await asyncio.sleep(REDIS_RETRY_S)
                continue
            if granted:
                self._waiters.remove(waiter)
                if not waiter.future.done():
                    waiter.future.set_result(self.clock())
                continue
            now = self.clock()
            if reason == "chat":
                # Only this chat is busy, so other waiters may go in the meantime.
                waiter.not_before = now + wait
                continue
            if reason == "pause":
                self.paused_until = max(self.paused_until, now + wait)
            await self._sleep(wait, better_than=waiter.priority)

    def _next_ready(self) -> _Waiter | None:
        now = self.clock()
        self._waiters = [waiter for waiter in self._waiters if not waiter.future.done()]
        ready = [waiter for waiter in self._waiters if waiter.not_before <= now]
        return min(ready, key=lambda waiter: (waiter.priority, waiter.sequence), default=None)

    def _until_next_ready(self) -> float | None:
        if not self._waiters:
            return None
        return max(0.0, min(waiter.not_before for waiter in self._waiters) - self.clock())

    async def _sleep(self, seconds: float | None, *, better_than: Priority | None) -> None:
        """Sleep `seconds`, or until a new waiter arrives that outranks `better_than`."""
        deadline = None if seconds is None else self.clock() + seconds
        while True:
            self._wakeup.clear()
            remaining = None if deadline is None else deadline - self.clock()
            if remaining is not None and remaining <= 0:
                return
            # asyncio.timeout, unlike wait_for in Python 3.11, never swallows a cancellation
            # that arrives together with the wake-up, which would keep `close` waiting.
            try:
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
            except TimeoutError:
                return
            if better_than is None or any(
                waiter.priority < better_than for waiter in self._waiters
            ):
                return

    async def _ask(self, waiter: _Waiter) -> tuple[bool, float, str]:
        chat_id = waiter.chat_id
        if chat_id is None:
            kind, chat_key = "none", self.key("chat:none")
        else:
            kind = "private" if chat_id > 0 else "group"
            chat_key = self.key(f"chat:{chat_id}")
        config = self.config
        granted, wait_us, reason = await self._acquire_script(
            keys=[self.key("global"), self.key("paused"), self.key("demand"), chat_key],
            args=[
                kind,
                int(waiter.priority),
                f"{config.global_interval:.6f}",
                f"{config.private_interval:.6f}",
                f"{config.group_window:.6f}",
                max(1, int(config.group_per_min)),
                self.process_id,
                f"{waiter.member}-{waiter.sequence}",
                f"{DEMAND_MARGIN_S:.3f}",
                f"{CATCH_UP_S:.6f}",
            ],
        )
        if isinstance(reason, bytes):
            reason = reason.decode()
        return bool(granted), int(wait_us) / 1_000_000, str(reason)

    def _log_redis_error(self, action: str, exc: RedisError) -> None:
        now = self.clock()
        if now - self._error_logged_at >= ERROR_LOG_INTERVAL_S:
            self._error_logged_at = now
            logger.error(
                "Shared limiter failed, sends wait for Redis: action=%s waiting=%s error=%s",
                action,
                len(self._waiters),
                exc,
            )
