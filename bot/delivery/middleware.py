"""aiogram request middleware that passes every send through the limiter."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod

from bot.delivery import metrics
from bot.delivery.limiter import Priority, SendLimiter

logger = logging.getLogger(__name__)

# Methods that count against Telegram's message limits; edits share the same budget.
COUNTED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendLocation",
        "sendVenue",
        "sendVideo",
        "sendAnimation",
        "sendAudio",
        "sendVoice",
        "sendSticker",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "editMessageMedia",
    }
)
# An interactive reply that meets a 429 waits and tries again this many times.
INTERACTIVE_RETRIES = 3

send_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "send_priority", default=Priority.INTERACTIVE
)
# Set by a caller that already waited for its limiter slot, so the request is not held twice.
slot_granted: contextvars.ContextVar[bool] = contextvars.ContextVar("slot_granted", default=False)


class LimiterMiddleware(BaseRequestMiddleware):
    """Wait for a limiter slot before each counted method; a 429 pauses every send."""

    def __init__(self, limiter: SendLimiter) -> None:
        self.limiter = limiter

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Response[Any]:
        name = method.__api_method__
        if name not in COUNTED_METHODS:
            return await make_request(bot, method)
        chat_id = _chat_id(method)
        priority = send_priority.get()
        attempts = 0
        while True:
            if slot_granted.get() and attempts == 0:
                slot_granted.set(False)
            else:
                await self.limiter.acquire(chat_id, priority)
            try:
                response = await make_request(bot, method)
            except TelegramRetryAfter as exc:
                self.limiter.finished()
                metrics.HTTP_429.inc()
                self.limiter.pause(exc.retry_after)
                attempts += 1
                if priority is Priority.BROADCAST or attempts > INTERACTIVE_RETRIES:
                    raise
                logger.warning(
                    "Reply delayed by flood control: method=%s chat_id=%s retry_after=%s",
                    name,
                    chat_id,
                    exc.retry_after,
                )
                await asyncio.sleep(exc.retry_after)
                continue
            except BaseException:
                # Whatever became of the request, it can no longer reach Telegram.
                self.limiter.finished()
                raise
            self.limiter.finished()
            return response


def _chat_id(method: TelegramMethod[Any]) -> int | None:
    chat_id = getattr(method, "chat_id", None)
    if isinstance(chat_id, int):
        return chat_id
    # A @channel username: no per-chat budget can be kept for it, only the overall one.
    return None
