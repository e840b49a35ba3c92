"""The send limiter: overall rate, per-chat spacing, priorities and pauses."""

from __future__ import annotations

import asyncio
import time

from bot.delivery.limiter import CATCH_UP_S, Limiter, Priority, RateConfig
from bot.emulator.limits import max_in_window


async def grant_times(limiter: Limiter, requests) -> list[float]:
    times: list[float] = [0.0] * len(requests)

    async def take(index: int, chat_id, priority) -> None:
        await limiter.acquire(chat_id, priority)
        times[index] = time.monotonic()
        # A response that comes back at once.
        limiter.finished()

    await asyncio.gather(*(take(n, *request) for n, request in enumerate(requests)))
    await limiter.close()
    return times


async def test_overall_rate_is_spaced():
    limiter = Limiter(RateConfig(global_per_s=20, safety=1.0))

    times = await grant_times(limiter, [(n, Priority.BROADCAST) for n in range(1, 11)])

    ordered = sorted(times)
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False)]
    assert min(gaps) >= 0.05 - CATCH_UP_S - 0.002


async def test_late_wakeups_keep_slot_grid():
    # A busy event loop wakes the grant loop a few milliseconds after each slot opens.
    # Counting the next slot from the wake-up would stretch 60 grants at 100 a second
    # (0.59 s on the grid) to about 0.7 s.
    limiter = Limiter(RateConfig(global_per_s=100, safety=1.0))
    stop = asyncio.Event()

    async def keep_loop_busy() -> None:
        while not stop.is_set():
            time.sleep(0.002)
            await asyncio.sleep(0.002)

    busy = asyncio.create_task(keep_loop_busy())
    times = await grant_times(limiter, [(None, Priority.BROADCAST)] * 60)
    stop.set()
    await busy

    ordered = sorted(times)
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False)]
    assert ordered[-1] - ordered[0] < 0.59 + 0.05
    assert min(gaps) >= 0.01 - CATCH_UP_S - 0.002


async def test_same_chat_spaced_from_previous_grant():
    limiter = Limiter(RateConfig(global_per_s=5, private_per_s=10, safety=1.0))

    # Other chats fill the overall queue first, so chat 7's first grant comes late.
    requests = [(n, Priority.INTERACTIVE) for n in range(100, 104)] + [(7, Priority.BROADCAST)] * 2
    times = await grant_times(limiter, requests)

    assert abs(times[5] - times[4]) >= 0.099


async def test_interactive_goes_before_waiting_broadcast():
    limiter = Limiter(RateConfig(global_per_s=10, safety=1.0))
    order: list[str] = []

    async def take(name: str, chat_id: int, priority: Priority) -> None:
        await limiter.acquire(chat_id, priority)
        order.append(name)

    broadcast = [
        asyncio.create_task(take(f"b{n}", 1000 + n, Priority.BROADCAST)) for n in range(5)
    ]
    await asyncio.sleep(0.01)
    await take("reply", 1, Priority.INTERACTIVE)
    await asyncio.gather(*broadcast)
    await limiter.close()

    assert order.index("reply") <= 2


async def test_pause_holds_every_send():
    limiter = Limiter(RateConfig(global_per_s=100, safety=1.0))
    limiter.pause(0.3)
    started = time.monotonic()

    await limiter.acquire(5, Priority.INTERACTIVE)
    await limiter.close()

    assert time.monotonic() - started >= 0.29


async def test_group_window_caps_messages():
    limiter = Limiter(
        RateConfig(global_per_s=1000, group_per_min=3, group_window_s=0.5, safety=1.0)
    )

    times = await grant_times(limiter, [(-100, Priority.INTERACTIVE)] * 4)

    ordered = sorted(times)
    assert ordered[3] - ordered[0] >= 0.49


async def test_recent_sends_carry_over_restart():
    config = RateConfig(global_per_s=1000, group_per_min=2, group_window_s=0.6, safety=1.0)
    first = Limiter(config)
    await first.acquire(-100, Priority.INTERACTIVE)
    await first.acquire(-100, Priority.INTERACTIVE)
    recent = first.recent_sends()
    await first.close()

    second = Limiter(config)
    second.restore_recent(recent)
    started = time.monotonic()
    await second.acquire(-100, Priority.INTERACTIVE)
    await second.close()

    assert time.monotonic() - started >= 0.5


async def test_late_taken_slot_keeps_any_second_within_ceiling(monkeypatch):
    # Slots 100 ms apart, 10 a second. The loop stalls 50 ms right after the first grant, as
    # a busy loop does: the first send goes out 50 ms late, and the ten slots after it, on
    # time, would put 11 sends within one second.
    limiter = Limiter(RateConfig(global_per_s=10, safety=1.0))
    loop = asyncio.get_running_loop()
    clock = limiter.clock
    stalled = []

    def clock_then_stall() -> float:
        # First read by the grant loop, just before it grants: the stall runs before the
        # granted waiter resumes.
        if not stalled:
            stalled.append(True)
            loop.call_soon(time.sleep, 0.05)
        return clock()

    monkeypatch.setattr(limiter, "clock", clock_then_stall)
    times = await grant_times(limiter, [(None, Priority.BROADCAST)] * 14)

    assert max_in_window(times, 1.0) <= 10
    assert limiter.budget_waits >= 1


async def test_prompt_sends_use_every_slot():
    limiter = Limiter(RateConfig(global_per_s=20, safety=1.0))

    await grant_times(limiter, [(None, Priority.BROADCAST)] * 10)

    assert limiter.budget_waits == 0


async def test_budget_counts_until_response_plus_second():
    # Ten slots a second, and the first three requests take 0.3 s to come back, so they may
    # reach Telegram just before their responses. Granting the eleventh send one second after
    # the first grant, as the slot grid alone does, could put 11 arrivals in one second.
    limiter = Limiter(RateConfig(global_per_s=10, safety=1.0))
    answered_at: dict[int, float] = {}
    granted_at: dict[int, float] = {}

    async def send(index: int) -> None:
        await limiter.acquire(None, Priority.BROADCAST)
        granted_at[index] = time.monotonic()
        if index < 3:
            await asyncio.sleep(0.3)
        answered_at[index] = time.monotonic()
        limiter.finished()

    await asyncio.gather(*(send(index) for index in range(12)))
    await limiter.close()

    first_grant = min(granted_at.values())
    eleventh = sorted(granted_at.values())[10]
    assert eleventh >= min(answered_at.values()) + 1.0 - 0.002
    assert eleventh - first_grant >= 1.25
    assert limiter.budget_waits >= 1


async def test_jitter_keeps_arrivals_within_ceiling():
    # Each request reaches Telegram between its grant and its response. Here the first send
    # of every ten travels 80 ms and the rest arrive at once, which is the worst case for a
    # limiter that only spaces its grants.
    limiter = Limiter(RateConfig(global_per_s=10, safety=1.0))
    arrivals: list[float] = []

    async def send(index: int) -> None:
        await limiter.acquire(None, Priority.BROADCAST)
        if index % 10 == 0:
            await asyncio.sleep(0.08)
        arrivals.append(time.monotonic())
        limiter.finished()

    await asyncio.gather(*(send(index) for index in range(35)))
    await limiter.close()

    assert len(arrivals) == 35
    assert max_in_window(arrivals, 1.0) <= 10


async def test_unreported_grant_expires(monkeypatch):
    # A sender that failed before its request never reports a response, so its grant expires
    # rather than taking a place in the budget for good.
    monkeypatch.setattr("bot.delivery.limiter.IN_FLIGHT_EXPIRY_S", 0.2)
    limiter = Limiter(RateConfig(global_per_s=2, safety=1.0))
    started = time.monotonic()
    await limiter.acquire(None, Priority.BROADCAST)
    await limiter.acquire(None, Priority.BROADCAST)

    await asyncio.wait_for(limiter.acquire(None, Priority.BROADCAST), timeout=3)
    waited = time.monotonic() - started
    await limiter.close()

    # Free once the first grant expired (0.2 s) and that moment left the last second.
    assert 1.2 - 0.002 <= waited < 1.6


async def test_finished_without_grant_ignored():
    limiter = Limiter(RateConfig(global_per_s=2, safety=1.0))
    limiter.finished()
    await limiter.acquire(None, Priority.BROADCAST)
    limiter.finished()
    limiter.finished()
    started = time.monotonic()

    await limiter.acquire(None, Priority.BROADCAST)
    await limiter.close()

    assert time.monotonic() - started < 0.6
