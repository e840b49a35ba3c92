"""Telegram webhook endpoint with a constant-time, byte-safe secret check."""

from __future__ import annotations

import hmac
import logging

from aiogram import Bot
from aiogram.webhook.aiohttp_server import SimpleRequestHandler

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class SecretTokenRequestHandler(SimpleRequestHandler):
    """aiogram's handler, comparing the secret as bytes.

    aiogram 3.31 passes the header to `secrets.compare_digest` as str, which raises TypeError
    (an HTTP 500) for a non-ASCII header. Telegram only sends A-Z a-z 0-9 _ -, so anything else
    is simply wrong and gets 401.
    """

    def __init__(self, *args: object, secret: str, **kwargs: object) -> None:
        super().__init__(*args, secret_token=secret, **kwargs)  # type: ignore[arg-type]
        self._secret = secret.encode()

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        received = telegram_secret_token.encode("utf-8", "surrogateescape")
        valid = hmac.compare_digest(received, self._secret)
        if not valid:
            logger.warning("Webhook request rejected: reason=bad secret token")
        return valid
