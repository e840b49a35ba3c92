"""The Redis limiter: budgets, pauses and priorities shared between limiter instances.

Each instance stands for one bot process; they share budgets only through Redis.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.asyncio import Redis

from bot.delivery.limiter import Priority, RateConfig
from bot.delivery.redis_limiter import RedisLimiter
from bot.emulator.limits import max_in_window

pytestmark = pytest.mark.redis


@pytest.fixture
async def limiters(redis_url):
    """A factory of limiters sharing one fresh scope; closes them and deletes their keys."""
    client = Redis.from_url(redis_url)
    scope = f"micropop-test-{uuid.uuid4().hex[:10]}:4242"
    created: list[RedisLimiter] = []

    def make(config: RateConfig) -> RedisLimiter:
        limiter = RedisLimiter(client, config, scope=scope)
        created.append(limiter)
        return limiter

    yield make
    for limiter in created:
        await limiter.close()
    keys = [key async for key in client.scan_iter(match=f"{{{scope}}}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def grant_times(limiter: RedisLimiter, chats: list[int], priority: Priority) -> list[float]:
    times: list[float] = []

    async def one(chat_id: int) -> None:
        await limiter.acquire(chat_id, priority)
        times.append(time.monotonic())

    await asyncio.gather(*(one(chat_id) for chat_id in chats))
    return times


async def test_global_budget_shared_by_two_processes(limiters):
    config = RateConfig(global_per_s=40.0)
    first, second = limiters(config), limiters(config)

    times = await asyncio.gather(
        grant_times(first, list(range(1, 41)), Priority.BROADCAST),
        grant_times(second, list(range(101, 141)), Priority.BROADCAST),
    )

    assert max_in_window(times[0] + times[1], 1.0) <= 40
    assert first.grants == 40
    assert second.grants == 40


async def test_private_chat_budget_shared(limiters):
    config = RateConfig(global_per_s=100.0, private_per_s=5.0)
    first, second = limiters(config), limiters(config)

    times = await asyncio.gather(
        grant_times(first, [7, 7, 7], Priority.INTERACTIVE),
        grant_times(second, [7, 7, 7], Priority.BROADCAST),
    )

    ordered = sorted(times[0] + times[1])
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False)]
    # 1/5 s apart, less a millisecond for the difference between the two clocks.
    assert min(gaps) >= 0.199


async def test_group_window_shared(limiters):
    config = RateConfig(global_per_s=100.0, group_per_min=3, group_window_s=1.0)
    first, second = limiters(config), limiters(config)

    times = await asyncio.gather(
        grant_times(first, [-100, -100], Priority.BROADCAST),
        grant_times(second, [-100, -100], Priority.BROADCAST),
    )

    assert max_in_window(times[0] + times[1], 1.0) <= 3


async def test_other_chats_pass_a_busy_chat(limiters):
    limiter = limiters(RateConfig(global_per_s=100.0, private_per_s=1.0))
    await limiter.acquire(5, Priority.BROADCAST)
    order: list[int] = []

    async def send(chat_id: int) -> None:
        await limiter.acquire(chat_id, Priority.BROADCAST)
        order.append(chat_id)

    await asyncio.gather(send(5), send(6), send(8))

    assert order[-1] == 5


async def test_interactive_overtakes_other_process_broadcast(limiters):
    config = RateConfig(global_per_s=20.0)
    broadcaster, replier = limiters(config), limiters(config)
    broadcast_done: list[float] = []

    async def broadcast(chat_id: int) -> None:
        await broadcaster.acquire(chat_id, Priority.BROADCAST)
        broadcast_done.append(time.monotonic())

    backlog = [asyncio.create_task(broadcast(chat_id)) for chat_id in range(1, 31)]
    while len(broadcast_done) < 3:
        await asyncio.sleep(0.01)
    asked = len(broadcast_done)
    await replier.acquire(999, Priority.INTERACTIVE)
    overtaken = len(broadcast_done) - asked
    await asyncio.gather(*backlog)

    # The reply waits at most for the slot already granted when it asked, not for the backlog.
    assert overtaken <= 1


async def test_pause_holds_other_process(limiters):
    config = RateConfig(global_per_s=100.0)
    pausing, other = limiters(config), limiters(config)

    pausing.pause(0.6)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await other.acquire(3, Priority.BROADCAST)

    assert time.monotonic() - started >= 0.5
    assert other.pause_remaining() == 0.0


async def test_pause_known_to_other_process_after_refusal(limiters):
    config = RateConfig(global_per_s=100.0)
    pausing, other = limiters(config), limiters(config)

    pausing.pause(2.0)
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(other.acquire(3, Priority.BROADCAST), 0.3)

    assert other.pause_remaining() > 1.0


async def test_unreachable_redis_grants_nothing():
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RedisLimiter(client, RateConfig(), scope="micropop-test-down:1")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire(1, Priority.INTERACTIVE), 0.5)

    await limiter.close()
    await client.aclose()


async def test_stalled_process_gives_up_its_passed_slot(limiters, monkeypatch):
    # 10 a second: slots 100 ms apart. The process stalls 300 ms right after its first grant,
    # as under CPU contention, so sending then would land next to the following slots.
    config = RateConfig(global_per_s=10.0 / RateConfig().safety)
    limiter = limiters(config)
    ask = limiter._ask
    stalled = []

    async def ask_then_stall(waiter):
        answer = await ask(waiter)
        if answer[0] and not stalled:
            stalled.append(waiter.sequence)
            asyncio.get_running_loop().call_soon(time.sleep, 0.3)
        return answer

    monkeypatch.setattr(limiter, "_ask", ask_then_stall)
    sent = await grant_times(limiter, list(range(1, 11)), Priority.BROADCAST)

    ordered = sorted(sent)
    # Sent in its passed slot, the stalled send would go out a few milliseconds before the
    # next one. A send resumed up to STALE_GRANT_S late still leaves 50 ms of the 100.
    assert min(b - a for a, b in zip(ordered, ordered[1:], strict=False)) >= 0.03
    assert limiter.stale_grants >= 1
    assert limiter.grants == 10


async def test_prompt_grant_is_used(limiters):
    limiter = limiters(RateConfig(global_per_s=50.0))

    await grant_times(limiter, [1, 2, 3], Priority.INTERACTIVE)

    assert limiter.grants == 3
    assert limiter.stale_grants == 0
