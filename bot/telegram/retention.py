"""Retention: ephemeral messages deleted when due, personal data purged after each event."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
)
from aiogram.types import Message

from bot.db.engine import Database
from bot.db.types import utcnow
from bot.services import ephemeral, privacy
from bot.telegram.context import BotContext

logger = logging.getLogger(__name__)

# How often the bot service runs `run_retention`, so a message outlives its TTL by at most this.
RETENTION_INTERVAL_S = 30.0


@dataclass(frozen=True)
class Deletions:
    deleted: int = 0
    skipped: int = 0  # already deleted by the user, or past Telegram's deletion window
    postponed: int = 0


async def remember(ctx: BotContext, message: Message, kind: str) -> None:
    """Mark a message the bot sent as ephemeral, deleted after the configured time to live."""
    ttl = timedelta(seconds=ctx.settings.ephemeral_ttl_s)
    await ephemeral.register(ctx.db, message.chat.id, message.message_id, kind=kind, ttl=ttl)


async def delete_due(bot: Bot, db: Database, *, now: datetime | None = None) -> Deletions:
    """Delete every ephemeral message whose time is up; keep failed ones for the next run."""
    now = now or utcnow()
    deleted = skipped = postponed = 0
    for message in await ephemeral.due(db, now=now):
        outcome = await _delete(bot, message, now)
        if outcome == "postponed":
            await ephemeral.postpone(db, message.id, now=now)
            postponed += 1
            continue
        await ephemeral.settle(db, message.id)
        if outcome == "deleted":
            deleted += 1
        else:
            skipped += 1
    if deleted or skipped or postponed:
        logger.info(
            "Ephemeral messages deleted: deleted=%s skipped=%s postponed=%s",
            deleted,
            skipped,
            postponed,
        )
    return Deletions(deleted, skipped, postponed)


async def _delete(bot: Bot, message: ephemeral.DueMessage, now: datetime) -> str:
    if not message.deletable(now):
        logger.error(
            "Ephemeral message past Telegram's 48-hour deletion window: chat_id=%s "
            "message_id=%s attempts=%s",
            message.chat_id,
            message.message_id,
            message.attempts,
        )
        return "skipped"
    try:
        await bot.delete_message(message.chat_id, message.message_id)
    except (TelegramBadRequest, TelegramForbiddenError) as exc:
        # Deleted by the user already, or the bot was blocked: nothing is left to delete.
        logger.info(
            "Ephemeral message not deleted: chat_id=%s message_id=%s error=%s",
            message.chat_id,
            message.message_id,
            exc.message,
        )
        return "skipped"
    except TelegramAPIError as exc:
        # Flood control, a server error or no connection: the next run tries again.
        logger.warning(
            "Ephemeral message deletion retried later: chat_id=%s message_id=%s error=%s",
            message.chat_id,
            message.message_id,
            exc,
        )
        return "postponed"
    return "deleted"


async def delete_now(bot: Bot, messages: tuple[tuple[int, int], ...]) -> int:
    """Delete messages of a person who asked to be forgotten; failures are only logged."""
    deleted = 0
    for chat_id, message_id in messages:
        try:
            await bot.delete_message(chat_id, message_id)
        except TelegramAPIError as exc:
            logger.warning(
                "Message of a forgotten attendee not deleted: chat_id=%s message_id=%s error=%s",
                chat_id,
                message_id,
                exc,
            )
            continue
        deleted += 1
    return deleted


async def run_retention(bot: Bot, ctx: BotContext) -> Deletions:
    """Purge personal data of events past their retention, then delete due messages."""
    await privacy.purge_expired(ctx.db, after_days=ctx.settings.purge_after_days)
    return await delete_due(bot, ctx.db)
