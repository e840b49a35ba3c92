"""Engine and session set-up for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

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

# How long a SQLite writer waits for the lock before giving up. Long on purpose: a handler
# should wait a moment rather than see "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
READONLY_OPTION = "micropop_readonly"


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
        """
        if not readonly and self.is_sqlite:
            if self._write_lock is None:
                self._write_lock = asyncio.Lock()
            async with self._write_lock, self.sessions() as session, session.begin():
                yield session
            return
        async with self.sessions() as session:
            if not readonly:
                async with session.begin():
                    yield session
                return
            # Procuring the connection begins the transaction with the option already set.
            await session.connection(execution_options={READONLY_OPTION: True})
            yield session
            await session.rollback()

    async def open_connections(
        self, prepare: Callable[[AsyncConnection], Awaitable[None]] | None = None
    ) -> int:
        """Open the pool's connections now and run `prepare` on each; return how many.

        A pool opens connections when they are first needed, so without this the first burst
        of handlers waits for connects, and on PostgreSQL for statements prepared per
        connection. `prepare` runs inside a transaction that is rolled back, and that SQLite
        begins deferred, so it waits for no writer unless `prepare` writes.
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

    return engine
