"""Composition of the aiogram side: the Bot and its Dispatcher, built from settings."""

from __future__ import annotations

from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.utils.i18n import I18n, SimpleI18nMiddleware

from bot.settings import TELEGRAM_API_URL, Settings
from bot.telegram import errors
from bot.telegram.context import BotContext
from bot.telegram.middlewares import InFlight, UpdateOnceMiddleware
from bot.telegram.routers import all_routers

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def create_bot(settings: Settings, *, timeout: float = 30.0) -> Bot:
    """Create the Bot, aimed at Telegram or at the Bot API server in MICROPOP_API_BASE_URL."""
    session = AiohttpSession(timeout=timeout)
    if settings.api_base_url != TELEGRAM_API_URL:
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(settings.api_base_url), timeout=timeout
        )
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_i18n() -> I18n:
    return I18n(path=LOCALES_DIR, default_locale="en", domain="messages")


def create_dispatcher(
    ctx: BotContext, in_flight: InFlight, *, storage: BaseStorage | None = None
) -> Dispatcher:
    """Create a dispatcher with once-only updates, i18n and every router."""
    dispatcher = Dispatcher(storage=storage or MemoryStorage(), ctx=ctx)
    polling = not ctx.settings.webhook_url
    dispatcher.update.outer_middleware(UpdateOnceMiddleware(ctx.db, in_flight, polling=polling))
    SimpleI18nMiddleware(create_i18n()).setup(dispatcher)
    dispatcher.include_router(errors.create_router())
    for router in all_routers():
        dispatcher.include_router(router)
    return dispatcher
