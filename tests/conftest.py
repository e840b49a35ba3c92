"""Shared fixtures: databases on SQLite and PostgreSQL, migrated once per session."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db import migrate
from bot.db.engine import Database, create_database
from bot.db.models import Base
from bot.emulator import RateLimits
from bot.rehearsal.stage import Stage

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-long", action="store_true", help="Run the long fault trials.")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-long") or os.environ.get("MICROPOP_RUN_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="long trial: run with --run-long or MICROPOP_RUN_LONG=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


def require_or_skip(what: str, reason: str) -> None:
    """Skip a test whose service is missing, or fail when MICROPOP_REQUIRE_SERVICES=1 (CI)."""
    if os.environ.get("MICROPOP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required here (MICROPOP_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(f"{what} not available: {reason}")


async def _reachable(url: str) -> str | None:
    database = create_database(url, pool_size=1)
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means the server is not usable
        return f"{type(exc).__name__}: {exc}"
    finally:
        await database.dispose()
    return None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("MICROPOP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    problem = asyncio.run(_reachable(url))
    if problem:
        require_or_skip(
            "PostgreSQL", f"{problem}; start it or set MICROPOP_TEST_POSTGRES_URL (now {url})"
        )
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server for tests; each test keeps to key prefixes of its own."""
    url = os.environ.get("MICROPOP_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    problem = asyncio.run(_redis_problem(url))
    if problem:
        require_or_skip("Redis", f"{problem}; start it or set MICROPOP_TEST_REDIS_URL (now {url})")
    return url


async def _redis_problem(url: str) -> str | None:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of its own for this test session, migrated to head."""
    name = f"micropop_test_{uuid.uuid4().hex[:10]}"
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)

    async def create() -> None:
        admin = create_database(postgres_admin_url, pool_size=1)
        async with admin.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        database = create_database(url, pool_size=1)
        await migrate.upgrade(database)
        await database.dispose()

    async def drop() -> None:
        admin = create_database(postgres_admin_url, pool_size=1)
        async with admin.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    asyncio.run(create())
    yield url
    asyncio.run(drop())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "micropop.sqlite3"

    async def create() -> None:
        database = create_database(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(database)
        await database.dispose()

    asyncio.run(create())
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "micropop.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def truncate_all(database: Database) -> None:
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with database.transaction() as session:
        await session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await session.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database URL: SQLite file or PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    url = request.getfixturevalue("postgres_url")
    database = create_database(url, pool_size=1)
    asyncio.run(_truncate_and_dispose(database))
    return url


async def _truncate_and_dispose(database: Database) -> None:
    await truncate_all(database)
    await database.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = create_database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    database = create_database(sqlite_url)
    yield database
    await database.dispose()


# End-to-end fixtures: the Bot API emulator and the real bot service.


@pytest.fixture
async def stage(tmp_path) -> AsyncIterator[Stage]:
    """The bot on a SQLite file, polling an emulator without rate enforcement."""
    async with Stage.on_sqlite(tmp_path) as running:
        yield running


@pytest.fixture
async def limited_stage(tmp_path) -> AsyncIterator[Stage]:
    """The bot on a SQLite file against an emulator that enforces Telegram's limits."""
    async with Stage.on_sqlite(tmp_path, limits=RateLimits()) as running:
        yield running


@pytest.fixture
async def pg_stage(postgres_url) -> AsyncIterator[Stage]:
    """The bot on PostgreSQL, polling an emulator without rate enforcement."""
    database = create_database(postgres_url, pool_size=1)
    await truncate_all(database)
    await database.dispose()
    async with Stage(postgres_url) as running:
        yield running
