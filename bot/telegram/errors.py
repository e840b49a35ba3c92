"""Errors raised by handlers that are part of normal operation, handled in one place."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.services import attendees
from bot.telegram.context import BotContext

logger = logging.getLogger(__name__)


def create_router() -> Router:
    router = Router(name="errors")
    router.errors.register(on_forbidden, ExceptionTypeFilter(TelegramForbiddenError))
    return router


async def on_forbidden(event: ErrorEvent, ctx: BotContext) -> bool:
    """Mark the chat unreachable after a reply failed with 403 (the bot was blocked or left)."""
    chat_id = _chat_id(event)
    logger.info(
        "Reply not delivered, chat unreachable: update_id=%s chat_id=%s error=%s",
        event.update.update_id,
        chat_id,
        event.exception,
    )
    if chat_id is not None:
        async with ctx.db.transaction() as session:
            await attendees.mark_unreachable(session, chat_id)
    return True


def _chat_id(event: ErrorEvent) -> int | None:
    update = event.update
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None and update.callback_query.message is not None:
        return update.callback_query.message.chat.id
    return None
