"""The organiser group's pinned stock message per drop, edited at most every few seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.db.engine import Database
from bot.services import drops, events, organisers
from bot.services.drop_stats import claims_per_drop
from bot.settings import Settings
from bot.telegram import drop_texts
from bot.telegram.context import BotContext
from bot.telegram.organiser_chat import edit_organiser_message, send_to_organisers

logger = logging.getLogger(__name__)

# Telegram allows about 20 messages a minute in one group, and edits count against it.
EDIT_INTERVAL_S = 3.0
BOARD_KEY = "drop_board"


class StatusBoard:
    """Coalesces stock changes per drop into one send, pin or edit per interval."""

    def __init__(self, ctx: BotContext, interval: float = EDIT_INTERVAL_S) -> None:
        self.ctx = ctx
        self.interval = interval
        self._last: dict[int, float] = {}
        self._pending: dict[int, asyncio.Task[None]] = {}
        self._closed = False

    def touch(self, bot: Bot, drop_id: int) -> None:
        """Schedule a refresh of the drop's message; a refresh already pending covers it."""
        if self._closed:
            return
        task = self._pending.get(drop_id)
        if task is not None and not task.done():
            return
        self._pending[drop_id] = asyncio.create_task(self._refresh_later(bot, drop_id))

    async def close(self) -> None:
        """Cancel pending refreshes at shutdown.

        A refresh after the bot's session closed would open an HTTP session that nobody closes.
        """
        self._closed = True
        pending = [task for task in self._pending.values() if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            logger.info("Drop status refreshes dropped at shutdown: count=%s", len(pending))

    async def _refresh_later(self, bot: Bot, drop_id: int) -> None:
        wait = self._last.get(drop_id, 0.0) + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last[drop_id] = time.monotonic()
        try:
            await self.refresh(bot, drop_id)
        except TelegramAPIError as exc:
            logger.warning("Drop status not updated: drop_id=%s error=%s", drop_id, exc)

    async def refresh(self, bot: Bot, drop_id: int) -> None:
        """Send and pin the drop's status message, or edit it when it exists."""
        db = self.ctx.db
        chat_id = await organisers.chat_id(db, self.ctx.settings.organiser_chat_id)
        drop = await drops.get_drop(db, drop_id)
        if not chat_id or drop is None:
            return
        event = await events.get_event(db, drop.event_id)
        stats = next(s for s in await claims_per_drop(db, drop.event_id) if s.drop_id == drop_id)
        text = drop_texts.status_board(stats, event.time_zone if event else "UTC")
        settings = self.ctx.settings
        if drop.status_message_id is not None:
            # Goes through the organiser chat helper, so the board follows a group migration.
            shown = await edit_organiser_message(bot, db, settings, drop.status_message_id, text)
            if shown is not None and shown != drop.status_message_id:
                await drops.set_status_message(db, drop_id, shown)
                await _pin(bot, db, settings, shown)
            return
        sent = await send_to_organisers(bot, db, settings, text, disable_notification=True)
        if sent is None:
            return
        await drops.set_status_message(db, drop_id, sent.message_id)
        await _pin(bot, db, settings, sent.message_id)


async def _pin(bot: Bot, db: Database, settings: Settings, message_id: int) -> None:
    chat_id = await organisers.chat_id(db, settings.organiser_chat_id)
    if chat_id:
        await bot.pin_chat_message(chat_id, message_id, disable_notification=True)


async def close_board(ctx: BotContext) -> None:
    """Stop the status board, if one was started; for the dispatcher's shutdown."""
    board = ctx.extras.get(BOARD_KEY)
    if board is not None:
        await board.close()


def board_for(ctx: BotContext) -> StatusBoard:
    board = ctx.extras.get(BOARD_KEY)
    if board is None:
        board = ctx.extras[BOARD_KEY] = StatusBoard(ctx)
    return board


async def announce_sold_out(bot: Bot, ctx: BotContext, drop_id: int) -> None:
    """Tell the organiser group once that a drop sold out, and how fast."""
    chat_id = await organisers.chat_id(ctx.db, ctx.settings.organiser_chat_id)
    drop = await drops.get_drop(ctx.db, drop_id)
    if not chat_id or drop is None or drop.sold_out_at is None:
        return
    after = max(drop.sold_out_at - drop.starts_at, timedelta(0))
    try:
        await send_to_organisers(
            bot, ctx.db, ctx.settings, drop_texts.sold_out(drop.title, after, drop.stock)
        )
    except TelegramAPIError as exc:
        logger.warning("Sold-out message not sent: drop_id=%s error=%s", drop_id, exc)
