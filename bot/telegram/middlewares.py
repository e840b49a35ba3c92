"""Dispatcher middlewares: once-only updates and in-flight tracking for clean shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.db.engine import Database
from bot.db.types import utcnow
from bot.services import updates

logger = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class InFlight:
    """Counts updates being handled, so shutdown can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class UpdateOnceMiddleware(BaseMiddleware):
    """Skip an update id that was handled before (webhook retries, restarts, replays)."""

    def __init__(self, db: Database, in_flight: InFlight, *, polling: bool) -> None:
        self.in_flight = in_flight
        # Only one process may long-poll a bot, and only one may use a SQLite database, so
        # there an unfinished record older than this process belongs to a run that died.
        reclaim_before = utcnow() if polling or db.is_sqlite else None
        self.log = updates.UpdateLog(db, reclaim_before=reclaim_before)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        self.in_flight.enter()
        try:
            if not await self.log.begin(event.update_id):
                return None
            try:
                result = await handler(event, data)
            except Exception:
                # Let a redelivery try again rather than lose the update.
                await self.log.release(event.update_id)
                raise
            await self.log.finish(event.update_id)
            return result
        finally:
            self.in_flight.leave()
