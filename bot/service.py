"""The bot service: dispatcher, web app and background workers, started and stopped as one."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import replace
from datetime import timedelta
from typing import Any

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from bot.db import migrate
from bot.db.engine import create_database
from bot.delivery import history, outbox
from bot.delivery.limiter import Limiter, RateConfig, SendLimiter
from bot.delivery.middleware import LimiterMiddleware
from bot.delivery.progress import ProgressReporter
from bot.delivery.redis_limiter import SHARED_SAFETY, RedisLimiter
from bot.delivery.sender import DeliveryWorkers
from bot.errors import ConfigError
from bot.scheduling import jobs
from bot.scheduling.leadership import MIGRATION_LOCK_KEY, advisory_lock, create_leadership
from bot.scheduling.scheduler import Scheduler
from bot.services import announcements, claim_desk, updates
from bot.settings import Settings
from bot.telegram.context import BotContext
from bot.telegram.factory import create_bot, create_dispatcher
from bot.telegram.hold_notices import run_hold_expiry
from bot.telegram.middlewares import InFlight
from bot.telegram.organiser_chat import edit_organiser_message, send_to_organisers
from bot.telegram.retention import RETENTION_INTERVAL_S, run_retention
from bot.web.app import create_web_app

logger = logging.getLogger(__name__)

# How long shutdown waits for handlers already running, so no received update is dropped.
DRAIN_TIMEOUT_S = 20.0
POLLING_TIMEOUT_S = 25
REDIS_TIMEOUT_S = 5.0
# Seconds a getMe request at start may take before it counts as a failed attempt.
START_PROBE_TIMEOUT_S = 10

WebExtension = Callable[[web.Application, "BotService"], None]


def freeze_startup_heap() -> int:
    """Keep every object alive now out of later garbage collections; return how many.

    After importing aiogram, pydantic and SQLAlchemy a process tracks about 250,000 objects,
    and one full collection over them paused every handler for 230 to 350 ms on a 2-core
    x86_64 box (CPython 3.11). Objects made during start-up (modules, classes, mappers,
    the dispatcher) live as long as the process, so collections only need the ones made
    later. Cycles among frozen objects are never collected, so call this after start-up.
    """
    global _heap_frozen
    gc.collect()
    gc.freeze()
    _heap_frozen = True
    count = gc.get_freeze_count()
    logger.info("Start-up objects frozen for garbage collection: count=%s", count)
    return count


_heap_frozen = False


def rate_config(settings: Settings) -> RateConfig:
    overall = settings.paid_broadcast_per_s or settings.rate_global_per_s
    return RateConfig(
        global_per_s=overall,
        private_per_s=settings.rate_private_per_s,
        group_per_min=settings.rate_group_per_min,
    )


def create_limiter(settings: Settings, redis: Redis | None) -> SendLimiter:
    """Keep Telegram's limits in this process, or in Redis for every process of the bot."""
    if redis is None:
        return Limiter(rate_config(settings))
    # Telegram's limits apply per bot, and the bot id is the token's public part.
    bot_id = settings.bot_token.get_secret_value().partition(":")[0]
    config = replace(rate_config(settings), safety=SHARED_SAFETY)
    return RedisLimiter(redis, config, scope=f"{settings.redis_prefix}:{bot_id}")


def create_fsm_storage(settings: Settings) -> BaseStorage | None:
    """Return Redis storage for aiogram's FSM state, shared by every process, or None."""
    if not settings.redis_url:
        return None
    return RedisStorage.from_url(
        settings.redis_url,
        key_builder=DefaultKeyBuilder(prefix=f"{settings.redis_prefix}:fsm", with_bot_id=True),
    )


class BotService:
    """Everything `micropop run` starts, built from settings; tests create as many as they need."""

    def __init__(self, settings: Settings, *, storage: BaseStorage | None = None) -> None:
        self.settings = settings
        self.db = create_database(settings.database_url)
        self.bot = create_bot(settings)
        self.redis = (
            Redis.from_url(settings.redis_url, socket_timeout=REDIS_TIMEOUT_S)
            if settings.redis_url
            else None
        )
        self.limiter = create_limiter(settings, self.redis)
        self.bot.session.middleware(LimiterMiddleware(self.limiter))

        self.scheduler = Scheduler(settings.database_url)
        self.leadership = create_leadership(
            settings.database_url,
            on_elected=self._lead,
            on_deposed=self._follow,
            on_jobs_changed=self.scheduler.wakeup,
        )

        self.workers = DeliveryWorkers(
            self.db,
            self.bot,
            self.limiter,
            concurrency=settings.send_concurrency,
            paid_broadcast=settings.paid_broadcast_per_s > 0,
        )
        self.progress = ProgressReporter(self.db, self._send_progress, self._edit_progress)
        self.in_flight = InFlight()
        self.ctx = BotContext(settings=settings, db=self.db, scheduler=self.scheduler)
        self.ctx.wake_workers = self.workers.wake

        self._own_storage = storage is None
        self.dispatcher = create_dispatcher(
            self.ctx, self.in_flight, storage=storage or create_fsm_storage(settings)
        )
        self.web_extensions: list[WebExtension] = []

        # Run in every process.
        self.background: list[Callable[[], Awaitable[None]]] = [self.workers.run]
        # Run only in the process that leads the scheduler, so that organisers see one
        # progress message per announcement however many processes send.
        self.leader_background: list[Callable[[], Awaitable[None]]] = [self.progress.run]
        self.periodic: dict[str, tuple[float, Callable[[], Awaitable[object]]]] = {
            "purge-updates": (3600.0, lambda: updates.purge_old(self.db)),
            "expire-holds": (30.0, lambda: run_hold_expiry(self.bot, self.ctx)),
            "retention": (RETENTION_INTERVAL_S, lambda: run_retention(self.bot, self.ctx)),
            "restore-jobs": (30.0, self._restore_announcement_jobs),
        }
        self._tasks: list[asyncio.Task[Any]] = []
        self._leader_tasks: list[asyncio.Task[Any]] = []
        self._runner: web.AppRunner | None = None
        self._polling: asyncio.Task[None] | None = None
        self.web_port: int | None = None
        # Delays in seconds between start-up attempts to reach the Bot API: the first one,
        # doubled after each failure up to the maximum.
        self.start_retry_min_s = 1.0
        self.start_retry_max_s = 30.0

    @property
    def mode(self) -> str:
        return "webhook" if self.settings.webhook_url else "polling"

    async def start(self) -> None:
        """Migrate, serve the web app, then receive updates by webhook or long polling."""
        if self.settings.run_migrations_on_start:
            # Processes starting together on PostgreSQL migrate one after the other.
            async with advisory_lock(self.settings.database_url, MIGRATION_LOCK_KEY):
                await migrate.upgrade(self.db)
        # A claim rush at T-0 then finds its connections open and its statements prepared.
        await self.db.open_connections(prepare=claim_desk.prepare_statements)
        if isinstance(self.limiter, Limiter):
            await history.load(self.db, self.limiter)
        await self._start_scheduler()
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
        if not _heap_frozen:
            # Only the first start in a process: a restarted service, or the next test, would
            # otherwise freeze objects that are garbage soon.
            freeze_startup_heap()

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
        # Work handlers started and left running, such as a sold-out notice to the organisers.
        await self.ctx.drain(DRAIN_TIMEOUT_S)
        await self.leadership.stop()
        await self.scheduler.shutdown()
        jobs.RUNTIMES.pop(self.scheduler.key, None)
        if self.mode == "webhook":
            await self.dispatcher.emit_shutdown(bot=self.bot, **self.dispatcher.workflow_data)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
        if isinstance(self.limiter, Limiter):
            try:
                await history.save(self.db, self.limiter)
            except Exception:  # noqa: BLE001 - the rest of the shutdown must still run
                # Without the history the next start paces as if nothing was sent lately.
                logger.exception("Recent sends not saved at shutdown")
        await self.limiter.close()
        if self._own_storage:
            await self.dispatcher.storage.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.bot.session.close()
        checked_out = self.db.checked_out()
        if checked_out:
            # A task still holding one was not stopped above; on SQLite it may hold the lock.
            logger.warning("Database connections still in use at shutdown: count=%s", checked_out)
        await self.db.dispose()
        logger.info("Bot service stopped")

    async def notify_organisers(self, text: str) -> int | None:
        """Send a message to the organiser group, following a migration, and return its id."""
        message = await send_to_organisers(self.bot, self.db, self.settings, text, parse_mode=None)
        return message.message_id if message else None

    async def alert_organisers(self, text: str) -> None:
        """Post a venue alert (printer offline, beacon failing) to the organiser group."""
        try:
            await self.notify_organisers(text)
        except TelegramAPIError:
            logger.exception("Venue alert not delivered: text=%r", text[:80])

    async def _send_progress(self, text: str) -> int | None:
        return await self.notify_organisers(text)

    async def _edit_progress(self, message_id: int, text: str) -> int | None:
        # After a group migration the text arrives as a new message, whose id is returned.
        return await edit_organiser_message(
            self.bot, self.db, self.settings, message_id, text, parse_mode=None
        )

    async def _start_scheduler(self) -> None:
        # Sends that were in flight when this process last stopped go out again: with one
        # sending process nobody else holds them. Several processes rely on lease expiry.
        if self.db.is_sqlite:
            requeued = await outbox.requeue_own_leases(self.db)
            if requeued:
                logger.warning(
                    "Deliveries in flight at the last stop requeued: count=%s", requeued
                )
        jobs.RUNTIMES[self.scheduler.key] = jobs.JobRuntime(
            db=self.db,
            grace=timedelta(seconds=self.settings.missed_job_grace_s),
            wake_workers=self.workers.wake,
            notify_organisers=self.notify_organisers,
            periodic={name: task for name, (_, task) in self.periodic.items()},
        )
        # Every process writes jobs, and only the leader runs them (see `_lead`).
        await self.scheduler.start(paused=True)
        await self.leadership.start()

    async def _lead(self) -> None:
        """Become the process that runs jobs, from the periodic ones to progress reports."""
        for name, (seconds, _) in self.periodic.items():
            await self.scheduler.ensure_periodic(name, seconds)
        await self._restore_announcement_jobs()
        await self.scheduler.resume()
        self._leader_tasks = [asyncio.create_task(task()) for task in self.leader_background]

    async def _restore_announcement_jobs(self) -> int:
        """Add the job of every scheduled announcement that has none; run by the leader.

        A job goes missing on a crash between the announcement's commit and the job-store
        write, when a leader dies after taking a due job but before its fan-out commits, and
        when a fan-out fails (the database is unreachable). Each job has a fixed id and
        `fan_out` runs once per announcement, so restoring adds no duplicates.
        """
        restored = await self.scheduler.add_missing_announcements(
            lambda: announcements.scheduled(self.db)
        )
        if restored:
            logger.warning("Announcement jobs restored: count=%s", restored)
        return restored

    async def _follow(self) -> None:
        """Stop running jobs and leader-only tasks, because another process leads now."""
        await self.scheduler.pause()
        tasks, self._leader_tasks = self._leader_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_for_bot_api(self, stop: asyncio.Event) -> bool:
        """Call getMe until the Bot API responds; return False if `stop` is set first.

        Venue networks often come up after the box, so network errors, 5xx and 429 are
        retried with capped exponential backoff. Raises ConfigError at once when the API
        rejects the token (401) or does not serve the Bot API at MICROPOP_API_BASE_URL (404).
        """
        delay = self.start_retry_min_s
        attempt = 1
        while True:
            try:
                me = await self.bot.get_me(request_timeout=START_PROBE_TIMEOUT_S)
            except TelegramUnauthorizedError:
                raise ConfigError(
                    "MICROPOP_BOT_TOKEN was rejected by the Bot API at "
                    f"{self.settings.api_base_url} (401 Unauthorized): copy the token from "
                    "@BotFather again"
                ) from None
            except TelegramNotFound:
                raise ConfigError(
                    f"MICROPOP_API_BASE_URL: {self.settings.api_base_url} returned "
                    "404 Not Found for getMe: point it at a Bot API server such as "
                    "https://api.telegram.org"
                ) from None
            except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as exc:
                logger.warning(
                    "Bot API unreachable at start: attempt=%s error=%s next_attempt_in=%.1fs",
                    attempt,
                    exc,
                    delay,
                )
            else:
                logger.info("Bot API reachable: username=%s attempts=%s", me.username, attempt)
                return True
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return False
            delay = min(delay * 2, self.start_retry_max_s)
            attempt += 1

    async def close_unstarted(self) -> None:
        """Close the clients `__init__` opened, for a service that never started."""
        if self._own_storage:
            await self.dispatcher.storage.close()
        await self.limiter.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.bot.session.close()
        await self.db.dispose()

    async def run_until_signal(self) -> None:
        """Wait for the Bot API, run until SIGTERM or SIGINT, then shut down cleanly."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            reachable = await self.wait_for_bot_api(stop)
        except BaseException:
            await self.close_unstarted()
            raise
        if not reachable:
            await self.close_unstarted()
            return
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
        if self.redis is not None:
            # Without Redis no send is granted, so the process cannot do its work.
            try:
                await self.redis.ping()
            except (RedisError, OSError) as exc:
                logger.error("Health check failed: component=redis error=%s", exc)
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
