"""Engine and session set-up for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    nullcontext,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

logger = logging.getLogger(__name__)
T = TypeVar("T")

# How long a SQLite writer waits for the lock before giving up. Long on purpose: a handler
# should wait a moment rather than see "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
READONLY_OPTION = "micropop_readonly"
# How long a cancelled task still waits for its commit or rollback before it stops waiting.
CLEANUP_GRACE_S = 10.0


@dataclass
class Database:
    """An engine with its session factory; services open transactions through it."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # SQLite admits one writer at a time, and a writer that finds the lock taken sleeps in
    # steps of up to 100 ms before trying again. Queueing this process's writers on a lock
    # first hands the database over in order and without those sleeps.
    _write_lock: asyncio.Lock | None = field(default=None, init=False, repr=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        """Open a session inside one transaction, committed on success, rolled back on error.

        A `readonly` transaction on SQLite begins deferred, so it never waits for writers.
        A cancellation (a service stopping, a timeout) never interrupts the commit, the
        rollback or the return of the connection: cut short, a rollback leaves the connection
        to the garbage collector, and on SQLite that connection keeps the write lock until
        then. The cancellation takes effect once the connection is back in the pool.
        """
        if readonly or not self.is_sqlite:
            lock: AbstractAsyncContextManager[object] = nullcontext()
        else:
            if self._write_lock is None:
                self._write_lock = asyncio.Lock()
            lock = self._write_lock
        async with lock:
            session = self.sessions()
            try:
                if readonly:
                    # Procuring the connection begins the transaction with the option set.
                    await session.connection(execution_options={READONLY_OPTION: True})
                else:
                    await session.begin()
                yield session
                if not readonly:
                    await finish_uncancelled(session.commit())
            finally:
                # Closing rolls back whatever was not committed and returns the connection.
                await finish_uncancelled(session.close())

    async def open_connections(
        self, prepare: Callable[[AsyncConnection], Awaitable[None]] | None = None
    ) -> int:
        """Open the pool's connections now and run `prepare` on each; return how many.

        A pool opens connections when they are first needed, so without this the first burst
        of handlers waits for connects, and on PostgreSQL for statements prepared per
        connection. `prepare` runs inside a read-only transaction that is rolled back.
        """
        size = self.engine.pool.size() if isinstance(self.engine.pool, QueuePool) else 1
        async with AsyncExitStack() as stack:
            connections = await asyncio.gather(
                *(stack.enter_async_context(self.engine.connect()) for _ in range(size))
            )
            for connection in connections:
                await connection.execution_options(**{READONLY_OPTION: True})
                if prepare is not None:
                    await prepare(connection)
                await connection.rollback()
        logger.info("Database connections opened: count=%s", size)
        return size

    def checked_out(self) -> int:
        """Return how many of the pool's connections are in use now."""
        pool = self.engine.pool
        return pool.checkedout() if isinstance(pool, QueuePool) else 0

    async def dispose(self) -> None:
        await self.engine.dispose()


def create_database(url: str, *, pool_size: int = 10) -> Database:
    """Create the engine for a database URL, with SQLite tuned for concurrent writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _create_sqlite_engine(url)
    else:
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            # asyncpg prepares statements per connection. Handing out the most recently used
            # connection first keeps busy paths on connections that have their statements.
            pool_use_lifo=True,
        )
    return Database(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False))


def _create_sqlite_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    database = parsed.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        # Each aiosqlite connection is a thread; keeping a few open saves a thread start and
        # the PRAGMAs below on every transaction.
        pool_size=5,
        max_overflow=15,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.get_execution_options().get(READONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        # BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads and
        # then writes fails at once with SQLITE_BUSY when another writer got there first, and
        # the busy timeout does not retry that case.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context) -> None:  # type: ignore[no-untyped-def]
        # SQLAlchemy treats a statement cut short by a cancellation as a disconnect, so it
        # closes the connection and leaves the cursor open. SQLite keeps such a connection,
        # with its transaction and the write lock, until the cursor is garbage-collected, and
        # every writer waits out the busy timeout meanwhile. The connection itself is sound
        # because its worker thread runs the statement to the end. Treated as an ordinary
        # error, the cursor is closed and the transaction rolled back.
        if isinstance(context.original_exception, asyncio.CancelledError):
            context.is_disconnect = False

    return engine


async def finish_uncancelled(step: Awaitable[T]) -> T:
    """Await `step` to its end even when the awaiting task is cancelled meanwhile.

    A cancellation that arrives meanwhile is raised once `step` ends, so the caller still
    stops. After CLEANUP_GRACE_S it is raised at once, and `step` finishes on its own.
    """
    task = asyncio.ensure_future(step)
    cancelled = False
    deadline: float | None = None
    loop = asyncio.get_running_loop()
    while not task.done():
        if deadline is not None and loop.time() >= deadline:
            logger.warning("Database clean-up still running after cancellation: task=%s", task)
            break
        remaining = None if deadline is None else deadline - loop.time()
        try:
            await asyncio.wait({task}, timeout=remaining)
        except asyncio.CancelledError:
            cancelled = True
            deadline = deadline or loop.time() + CLEANUP_GRACE_S
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
