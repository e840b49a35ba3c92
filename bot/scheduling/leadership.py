"""Scheduler leadership: one bot process runs the jobs, chosen by a PostgreSQL advisory lock.

The leader holds a session-level advisory lock on a connection of its own. PostgreSQL frees
the lock when that connection ends, so a leader that dies (even by SIGKILL) hands over as
soon as the server detects the closed socket. The other processes try to take the lock every
few seconds, and at once when a leader that stops cleanly sends a NOTIFY. A leader checks its
connection every few seconds and steps down when the check fails. Two leaders can overlap
only until the old one notices, and job functions are written to run twice safely.

SQLite serves one process, which always leads.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol

import asyncpg
from prometheus_client import Gauge
from sqlalchemy.engine import make_url

from bot.scheduling.scheduler import JOBS_CHANNEL

logger = logging.getLogger(__name__)

# Advisory locks are scoped to one database, so a fixed key is enough.
SCHEDULER_LOCK_KEY = 0x6D70_0001
MIGRATION_LOCK_KEY = 0x6D70_0003
# NOTIFY channel of a leader that released the lock on a clean stop.
LEADER_CHANNEL = "micropop_leader"
RETRY_S = 2.0
CHECK_S = 2.0
QUERY_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
# Server-side keepalive on the lock connection. If the leader's host vanishes without closing
# its socket, PostgreSQL drops the session and frees the lock after about 10 + 3 * 3 = 19 s,
# instead of the Linux default of over two hours.
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "3",
    "tcp_keepalives_count": "3",
}
# Failed attempts of a follower are logged at most this often.
ERROR_LOG_INTERVAL_S = 60.0
CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

LEADER = Gauge("micropop_scheduler_leader", "1 while this process runs the scheduler's jobs.")

Callback = Callable[[], Awaitable[None]]


class Leadership(Protocol):
    is_leader: bool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def create_leadership(
    database_url: str,
    *,
    on_elected: Callback,
    on_deposed: Callback,
    on_jobs_changed: Callable[[], None],
) -> Leadership:
    """Return the advisory-lock leadership on PostgreSQL, or sole leadership on SQLite."""
    if make_url(database_url).get_backend_name() == "postgresql":
        return AdvisoryLockLeadership(
            database_url,
            on_elected=on_elected,
            on_deposed=on_deposed,
            on_jobs_changed=on_jobs_changed,
        )
    return SoleLeadership(on_elected=on_elected, on_deposed=on_deposed)


def asyncpg_dsn(database_url: str) -> str:
    """Return a SQLAlchemy PostgreSQL URL as a plain DSN for asyncpg."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class SoleLeadership:
    """The only process on a SQLite file: it leads from start to stop."""

    def __init__(self, *, on_elected: Callback, on_deposed: Callback) -> None:
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.is_leader = False

    async def start(self) -> None:
        self.is_leader = True
        LEADER.set(1)
        await self.on_elected()

    async def stop(self) -> None:
        if self.is_leader:
            self.is_leader = False
            LEADER.set(0)
            await self.on_deposed()


class AdvisoryLockLeadership:
    """Contends for the scheduler lock and calls back when this process gains or loses it."""

    def __init__(
        self,
        database_url: str,
        *,
        on_elected: Callback,
        on_deposed: Callback,
        on_jobs_changed: Callable[[], None],
        retry_s: float = RETRY_S,
        check_s: float = CHECK_S,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.on_jobs_changed = on_jobs_changed
        self.retry_s = retry_s
        self.check_s = check_s
        self.is_leader = False
        self._connection: asyncpg.Connection | None = None
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._error_logged_at = -math.inf

    async def start(self) -> None:
        """Try for the lock once now, so a lone process leads from its first second."""
        await self._attempt()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Step down, release the lock and tell the other processes to take it now."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        was_leader = self.is_leader
        if was_leader:
            await self._step_down()
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        try:
            if was_leader:
                await connection.execute(
                    "SELECT pg_advisory_unlock($1)", SCHEDULER_LOCK_KEY, timeout=QUERY_TIMEOUT_S
                )
                await connection.execute(f"NOTIFY {LEADER_CHANNEL}", timeout=QUERY_TIMEOUT_S)
            await connection.close(timeout=QUERY_TIMEOUT_S)
        except CONNECTION_ERRORS as exc:
            logger.warning("Scheduler lock connection not closed cleanly: error=%s", exc)
            connection.terminate()

    async def _run(self) -> None:
        # The flag ends the loop even if a cancellation were lost: a process that took the
        # lock while stopping would otherwise never finish its stop.
        while not self._stopping:
            # asyncio.timeout, unlike wait_for in Python 3.11, never swallows a cancellation
            # that arrives together with the wake-up (here: a leader's NOTIFY during stop).
            try:
                async with asyncio.timeout(self.check_s if self.is_leader else self.retry_s):
                    await self._poke.wait()
            except TimeoutError:
                pass
            self._poke.clear()
            if not self._stopping:
                await self._attempt()

    async def _attempt(self) -> None:
        if self.is_leader:
            await self._check()
        else:
            await self._try_lock()

    async def _try_lock(self) -> None:
        try:
            connection = await self._connect()
            locked = await connection.fetchval(
                "SELECT pg_try_advisory_lock($1)", SCHEDULER_LOCK_KEY, timeout=QUERY_TIMEOUT_S
            )
        except CONNECTION_ERRORS as exc:
            self._log_follower_error(exc)
            self._drop_connection()
            return
        if locked:
            await self._elect()

    async def _check(self) -> None:
        connection = self._connection
        try:
            if connection is None or connection.is_closed():
                raise ConnectionError("the lock connection was closed")
            await connection.fetchval("SELECT 1", timeout=QUERY_TIMEOUT_S)
        except CONNECTION_ERRORS as exc:
            logger.error("Scheduler leadership lost: pid=%s error=%s", os.getpid(), exc)
            await self._step_down()
            self._drop_connection()
            return
        # Belt and braces for a NOTIFY that never came: look at the job store anyway.
        self.on_jobs_changed()

    async def _elect(self) -> None:
        self.is_leader = True
        LEADER.set(1)
        started = time.monotonic()
        try:
            await self.on_elected()
        except Exception:  # noqa: BLE001 - give the lock to a process that can lead
            logger.exception("Scheduler leadership given up: start as leader failed")
            await self._step_down()
            self._drop_connection()
            return
        logger.info(
            "Scheduler leadership taken: pid=%s setup_s=%.2f",
            os.getpid(),
            time.monotonic() - started,
        )

    async def _step_down(self) -> None:
        self.is_leader = False
        LEADER.set(0)
        try:
            await self.on_deposed()
        except Exception:  # noqa: BLE001 - the lock goes anyway
            logger.exception("Scheduler did not stop cleanly after leadership ended")
        logger.info("Scheduler leadership ended: pid=%s", os.getpid())

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        connection = await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_TIMEOUT_S,
            server_settings={
                "application_name": f"micropop-scheduler pid={os.getpid()}",
                **KEEPALIVE_SETTINGS,
            },
        )
        connection.add_termination_listener(self._on_terminated)
        await connection.add_listener(JOBS_CHANNEL, self._on_jobs_notice)
        await connection.add_listener(LEADER_CHANNEL, self._on_leader_notice)
        self._connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            # Closing the session is what frees a lock still held on it.
            connection.terminate()

    def _on_terminated(self, _connection: Any) -> None:
        self._poke.set()

    def _on_jobs_notice(self, *_notice: Any) -> None:
        if self.is_leader:
            self.on_jobs_changed()

    def _on_leader_notice(self, *_notice: Any) -> None:
        if not self.is_leader:
            self._poke.set()

    def _log_follower_error(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._error_logged_at >= ERROR_LOG_INTERVAL_S:
            self._error_logged_at = now
            logger.error("Scheduler lock unavailable, will retry: error=%s", exc)


@asynccontextmanager
async def advisory_lock(database_url: str, key: int) -> AsyncIterator[None]:
    """Hold a session-level advisory lock on PostgreSQL. SQLite needs none."""
    if make_url(database_url).get_backend_name() != "postgresql":
        yield
        return
    connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=CONNECT_TIMEOUT_S)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", key)
        yield
    finally:
        await connection.close()
