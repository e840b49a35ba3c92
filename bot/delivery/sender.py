"""Delivery workers: send from the outbox through the limiter and record each outcome."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiohttp import ClientConnectorError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bot.db.engine import Database
from bot.db.types import utcnow
from bot.delivery import metrics, outbox
from bot.delivery.limiter import Limiter, Priority
from bot.delivery.middleware import send_priority, slot_granted
from bot.delivery.outbox import ClaimedDelivery
from bot.delivery.render import render_parts

logger = logging.getLogger(__name__)

# A claimed delivery that waits longer than this for a send slot goes back to the queue, so its
# lease (below) cannot run out while it waits and let another worker send it too.
SLOT_WAIT_S = 20.0
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
# While the Bot API is unreachable every worker waits; probing every 10 s at most bounds how
# long the queue sits idle after the connection returns.
NETWORK_PAUSE_CAP_S = 10.0
IDLE_POLL_S = 1.0
# How long a stopping service waits for a send already on its way.
SHUTDOWN_GRACE_S = 10.0
# A copy held up this long after its announcement's time by an unreachable Bot API carries the
# late mark, like an announcement that fanned out late.
LATE_AFTER = timedelta(seconds=60)
# Recording a send's outcome is retried this often while the database is unreachable, so a
# message already sent is not sent again once the database returns.
STORE_RETRY_CAP_S = 2.0


def backoff(attempts: int) -> float:
    """Capped exponential backoff with jitter, so recovering workers do not retry in step."""
    delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)


def is_database_outage(exc: Exception) -> bool:
    """True for a lost or refused database connection, as opposed to a rejected statement."""
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    return isinstance(exc, DBAPIError | PoolTimeoutError | OSError)


def is_connect_failure(exc: TelegramNetworkError) -> bool:
    """True when the request never reached the Bot API, so sending again cannot duplicate."""
    return isinstance(exc.__cause__, ClientConnectorError)


class DeliveryWorkers:
    """A pool of workers draining the outbox; `wake()` after writing deliveries."""

    def __init__(
        self,
        db: Database,
        bot: Bot,
        limiter: Limiter,
        *,
        concurrency: int,
        lease: timedelta = timedelta(seconds=120),
        paid_broadcast: bool = False,
        on_settled: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.bot = bot
        self.limiter = limiter
        self.concurrency = concurrency
        self.lease = lease
        self.paid_broadcast = paid_broadcast
        self.on_settled = on_settled
        self._wake = asyncio.Event()
        self._network_failures = 0
        # Announcements this process marked late; a copy claimed before the mark sees it here.
        self._marked_late: set[int] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Run the workers until cancelled."""
        send_priority.set(Priority.BROADCAST)
        logger.info("Delivery workers started: concurrency=%s", self.concurrency)
        workers = [asyncio.create_task(self._work(n)) for n in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                # A cancelled gather has cancelled them already. A second cancellation would
                # cut short the clean-up of a worker stopped mid-query.
                if not worker.done() and not worker.cancelling():
                    worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            logger.info("Delivery workers stopped")

    async def _work(self, number: int) -> None:
        idle = True
        while True:
            pause = self.limiter.pause_remaining()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            try:
                claimed = await outbox.claim_next(self.db, lease=self.lease, probe=idle)
            except Exception:  # noqa: BLE001 - the database may be restarting; keep the worker
                logger.exception("Outbox claim failed: worker=%s", number)
                await asyncio.sleep(IDLE_POLL_S)
                continue
            idle = claimed is None
            if claimed is None:
                await self._idle(number)
                continue
            # There may be more: let idle workers join in.
            self._wake.set()
            try:
                await self._deliver_shielded(claimed)
            except Exception:  # noqa: BLE001 - one delivery's fault must not stop the pool
                # The delivery stays leased and is taken again when the lease runs out.
                logger.exception(
                    "Delivery failed unexpectedly: worker=%s delivery_id=%s", number, claimed.id
                )
                await asyncio.sleep(IDLE_POLL_S)

    async def _deliver_shielded(self, claimed: ClaimedDelivery) -> None:
        """Deliver; when the service stops meanwhile, finish this send before stopping.

        Cancelling mid-send would leave a message Telegram may have accepted recorded as
        `sending`, and the next start would send it again.
        """
        delivery = asyncio.ensure_future(self._deliver(claimed))
        try:
            await asyncio.shield(delivery)
        except asyncio.CancelledError:
            try:
                async with asyncio.timeout(SHUTDOWN_GRACE_S):
                    await delivery
            except Exception:  # noqa: BLE001 - stopping anyway; the lease covers this send
                logger.warning("Send unfinished at shutdown: delivery_id=%s", claimed.id)
            raise

    async def _idle(self, number: int) -> None:
        """Wait for new work; only the first worker polls, the rest wait to be woken."""
        self._wake.clear()
        if number != 0:
            await self._wake.wait()
            return
        try:
            async with asyncio.timeout(IDLE_POLL_S):
                await self._wake.wait()
        except TimeoutError:
            pass  # poll again: work may come from another process or a retry falling due

    async def _deliver(self, claimed: ClaimedDelivery) -> None:
        if claimed.announcement_status == "cancelled":
            await self._store(outbox.record_expired, claimed.id, "cancelled")
        elif claimed.relevant_until is not None and claimed.relevant_until <= utcnow():
            logger.info(
                "Delivery expired: delivery_id=%s announcement_id=%s",
                claimed.id,
                claimed.announcement_id,
            )
            await self._store(outbox.record_expired, claimed.id, "no longer relevant")
        else:
            await self._send(claimed)
        if self.on_settled is not None:
            await self.on_settled(claimed.announcement_id)

    async def _send(self, claimed: ClaimedDelivery) -> None:
        parts = render_parts(claimed.text, delayed=claimed.delayed, language=claimed.language)
        try:
            message_id = 0
            index = claimed.parts_sent
            while index < len(parts):
                if not await self._wait_for_slot(claimed, index):
                    return
                if index == 0 and claimed.announcement_id in self._marked_late:
                    # The announcement was marked late while this copy waited for its slot.
                    parts = render_parts(claimed.text, delayed=True, language=claimed.language)
                started = time.monotonic()
                message = await self.bot.send_message(
                    claimed.chat_id,
                    parts[index],
                    parse_mode=None,
                    allow_paid_broadcast=self.paid_broadcast or None,
                )
                metrics.SEND_LATENCY.observe(time.monotonic() - started)
                message_id = message.message_id
                if index + 1 < len(parts):
                    await self._store(outbox.record_part, claimed.id, index + 1)
                index += 1
            await self._store(outbox.record_sent, claimed.id, message_id, len(parts))
            self._network_failures = 0
        except TelegramRetryAfter as exc:
            # The middleware already paused every send; this one goes back in line.
            await self._store(
                outbox.record_retry,
                claimed.id,
                timedelta(seconds=exc.retry_after),
                "429 flood control",
            )
        except TelegramForbiddenError as exc:
            logger.info(
                "Recipient unreachable: chat_id=%s reason=%s", claimed.chat_id, exc.message
            )
            await self._store(outbox.record_unreachable, claimed.id, claimed.chat_id, exc.message)
        except TelegramMigrateToChat as exc:
            await self._store(
                outbox.record_failed, claimed.id, f"chat migrated to {exc.migrate_to_chat_id}"
            )
        except TelegramBadRequest as exc:
            logger.warning(
                "Delivery failed: delivery_id=%s chat_id=%s error=%s",
                claimed.id,
                claimed.chat_id,
                exc.message,
            )
            await self._store(outbox.record_failed, claimed.id, exc.message)
        except TelegramServerError as exc:
            await self._retry(claimed, f"server error: {exc.message}")
        except TelegramNetworkError as exc:
            await self._network_error(claimed, exc)

    async def _store(self, write: Callable[..., Awaitable[None]], *args: object) -> None:
        """Record an outcome, waiting out a database outage rather than losing what happened."""
        attempt = 0
        while True:
            try:
                await write(self.db, *args)
                return
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                attempt += 1
                logger.warning(
                    "Delivery outcome not stored, retrying: write=%s id=%s attempt=%s error=%s",
                    write.__name__,
                    args[0],
                    attempt,
                    exc,
                )
                await asyncio.sleep(min(STORE_RETRY_CAP_S, 0.25 * 2**attempt))

    async def _wait_for_slot(self, claimed: ClaimedDelivery, part: int) -> bool:
        """Wait for a send slot; on a long wait hand the delivery back, still unsent."""
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation of a stopping service.
            async with asyncio.timeout(SLOT_WAIT_S):
                await self.limiter.acquire(claimed.chat_id, Priority.BROADCAST)
        except TimeoutError:
            await self._store(outbox.record_retry, claimed.id, timedelta(0), "waited for a slot")
            return False
        slot_granted.set(True)
        return True

    async def _network_error(self, claimed: ClaimedDelivery, exc: TelegramNetworkError) -> None:
        if not is_connect_failure(exc):
            # The request went out and no answer came back: Telegram may have delivered it.
            logger.warning(
                "Delivery outcome unknown: delivery_id=%s chat_id=%s error=%s",
                claimed.id,
                claimed.chat_id,
                exc.message,
            )
            await self._store(outbox.record_uncertain, claimed.id, exc.message)
            return
        self._network_failures += 1
        # The Bot API is unreachable: hold every worker rather than churn through the queue,
        # so the backlog drains in order once it is back.
        self.limiter.pause(min(NETWORK_PAUSE_CAP_S, backoff(self._network_failures)))
        await self._retry(claimed, f"network: {exc.message}", attempts=1)

    async def _retry(
        self, claimed: ClaimedDelivery, error: str, attempts: int | None = None
    ) -> None:
        delay = backoff(attempts if attempts is not None else claimed.attempts)
        logger.info(
            "Delivery retry: delivery_id=%s attempt=%s delay_s=%.1f error=%s",
            claimed.id,
            claimed.attempts,
            delay,
            error,
        )
        await self._store(outbox.record_retry, claimed.id, timedelta(seconds=delay), error)
        if not claimed.delayed and utcnow() - claimed.scheduled_for > LATE_AFTER:
            self._marked_late.add(claimed.announcement_id)
            await self._store(outbox.mark_delayed, claimed.announcement_id)
