"""Work a handler spawns ends before the service stops: awaited briefly, then cancelled."""

from __future__ import annotations

import asyncio

from bot.telegram.context import BotContext


def context() -> BotContext:
    return BotContext(settings=None, db=None, scheduler=None)  # type: ignore[arg-type]


async def test_drain_cancels_long_work():
    ctx = context()
    done: list[str] = []
    cancelled: list[str] = []

    async def work(name: str, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
            done.append(name)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    ctx.spawn(work("notice", 0.05))
    long = ctx.spawn(work("stuck", 30))

    assert await ctx.drain(0.5) == 1
    assert done == ["notice"]
    assert cancelled == ["stuck"]
    assert long.cancelled()


async def test_finished_work_is_forgotten():
    ctx = context()

    async def nothing() -> None:
        return None

    await ctx.spawn(nothing())
    await asyncio.sleep(0)

    assert await ctx.drain(0.1) == 0
