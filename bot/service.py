"""The bot service: dispatcher, web app and background workers, started and stopped as one."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from aiogram.fsm.storage.base import BaseStorage
from aiohttp import web
from sqlalchemy import text

from bot.db import migrate
from bot.db.engine import create_database
from bot.settings import Settings
from bot.telegram.context import BotContext
from bot.telegram.factory import create_bot, create_dispatcher
from bot.telegram.middlewares import InFlight
from bot.web.app import create_web_app

logger = logging.getLogger(__name__)

# How long shutdown waits for handlers already running, so no received update is dropped.
DRAIN_TIMEOUT_S = 20.0
POLLING_TIMEOUT_S = 25

WebExtension = Callable[[web.Application, "BotService"], None]


class BotService:
    """Everything `micropop run` starts, built from settings; tests create as many as they need."""

    def __init__(self, settings: Settings, *, storage: BaseStorage | None = None) -> None:
        self.settings = settings
        self.db = create_database(settings.database_url)
        self.bot = create_bot(settings)
        self.in_flight = InFlight()
        self.ctx = BotContext(settings=settings, db=self.db)
        self.dispatcher = create_dispatcher(self.ctx, self.in_flight, storage=storage)
        self.web_extensions: list[WebExtension] = []
        self.background: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._runner: web.AppRunner | None = None
        self._polling: asyncio.Task[None] | None = None
        self.web_port: int | None = None

    @property
    def mode(self) -> str:
        return "webhook" if self.settings.webhook_url else "polling"

    async def start(self) -> None:
        """Migrate, serve the web app, then receive updates by webhook or long polling."""
        if self.settings.run_migrations_on_start:
            await migrate.upgrade(self.db)
        await self._start_web()
        for worker in self.background:
            self._tasks.append(asyncio.create_task(worker()))
        if self.mode == "webhook":
            await self.bot.set_webhook(
                self.settings.webhook_url + self.settings.webhook_path,
                secret_token=self.settings.webhook_secret.get_secret_value(),
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
            await self.dispatcher.emit_startup(bot=self.bot, **self.dispatcher.workflow_data)
        else:
            # A webhook left over from an earlier deployment makes getUpdates fail with 409.
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._polling = asyncio.create_task(
                self.dispatcher.start_polling(
                    self.bot,
                    handle_signals=False,
                    close_bot_session=False,
                    polling_timeout=POLLING_TIMEOUT_S,
                )
            )
        logger.info("Bot service started: mode=%s web_port=%s", self.mode, self.web_port)

    async def stop(self) -> None:
        """Stop receiving, let running handlers finish, then close everything."""
        logger.info("Bot service stopping: mode=%s in_flight=%s", self.mode, self.in_flight.count)
        if self._polling is not None:
            with suppress(RuntimeError):
                await self.dispatcher.stop_polling()
            with suppress(asyncio.CancelledError):
                await self._polling
        if not await self.in_flight.wait_idle(DRAIN_TIMEOUT_S):
            logger.error("Handlers still running at shutdown: count=%s", self.in_flight.count)
        if self.mode == "webhook":
            await self.dispatcher.emit_shutdown(bot=self.bot, **self.dispatcher.workflow_data)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
        await self.bot.session.close()
        await self.db.dispose()
        logger.info("Bot service stopped")

    async def run_until_signal(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down cleanly."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def check_health(self) -> bool:
        try:
            async with self.db.transaction() as session:
                await session.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any database failure means unhealthy
            logger.exception("Health check failed: component=database")
            return False
        return True

    async def _start_web(self) -> None:
        app = create_web_app(self)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.web_host, self.settings.web_port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 - port 0 lookup
        self.web_port = sockets[0].getsockname()[1] if sockets else self.settings.web_port
