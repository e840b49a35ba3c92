"""Engine and session set-up for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

# How long a SQLite writer waits for the lock before giving up. Long on purpose: a handler
# should wait a moment rather than see "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000


@dataclass
class Database:
    """An engine with its session factory; services open transactions through it."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a session inside one transaction, committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def create_database(url: str, *, pool_size: int = 10) -> Database:
    """Create the engine for a database URL, with SQLite tuned for concurrent writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _create_sqlite_engine(url)
    else:
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
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
        # Each connection is a thread in aiosqlite; a fresh one per session keeps WAL readers
        # from pinning old snapshots and costs well under a millisecond.
        poolclass=NullPool,
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
        # BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads and
        # then writes fails at once with SQLITE_BUSY when another writer got there first, and
        # the busy timeout does not retry that case.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
