"""The drop status board at shutdown: no refresh runs after the bot's HTTP session closed."""

from __future__ import annotations

import asyncio

from bot.rehearsal.stage import Stage
from bot.telegram.drop_board import BOARD_KEY
from tests.bot.telegram.stage_helpers import claim, live_drop

WAIT_S = 8.0


async def test_pending_refresh_dropped_at_shutdown(tmp_path):
    async with Stage.on_sqlite(tmp_path) as stage:
        drop = await live_drop(stage)
        await claim(stage, stage.emulator.user(7_000_000_901, "Ada"), drop.id)
        service = stage.bot
        board = await stage.emulator.wait_for(lambda: service.ctx.extras.get(BOARD_KEY))
        await stage.emulator.wait_for(lambda: board._last)
        # Longer than the bot takes to stop, so the next refresh would run after it stopped.
        board.interval = WAIT_S
        # This refresh waits for the board's edit interval, so the bot stops first.
        await claim(stage, stage.emulator.user(7_000_000_902, "Bob"), drop.id)
        await stage.emulator.wait_for(lambda: not all(t.done() for t in board._pending.values()))

    await asyncio.sleep(WAIT_S + 0.5)

    session = service.bot.session._session
    assert session is None or session.closed
    assert all(task.done() for task in board._pending.values())
