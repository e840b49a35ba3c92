"""Alembic migrations run from code: `micropop db upgrade` and the upgrade on start."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from bot.db.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_REVISION_RE = re.compile(r"^revision(?:: str)? = ['\"](\w+)['\"]", re.MULTILINE)
_DOWN_RE = re.compile(r"^down_revision(?:: [\w |]+)? = ['\"](\w+)['\"]", re.MULTILINE)


def alembic_config(url: str = "") -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """Read the newest revision id from the migration files, without importing Alembic.

    Importing Alembic costs a noticeable share of start-up; a restart against a database that
    is already current should not pay it. Returns None when the history has several heads.
    """
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION_RE.search(source)
        if revision:
            revisions.add(revision.group(1))
        down = _DOWN_RE.search(source)
        if down:
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def upgrade(database: Database, revision: str = "head") -> None:
    """Migrate the database up to `revision` (head by default); quick when already there."""
    if revision == "head":
        head = head_revision()
        if head is not None and await current_revision(database) == head:
            logger.info("Database already at head: revision=%s", head)
            return
    await _run(database, "upgrade", revision)


async def downgrade(database: Database, revision: str) -> None:
    await _run(database, "downgrade", revision)


async def current_revision(database: Database) -> str | None:
    try:
        async with database.engine.connect() as connection:
            result = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return result.scalar_one_or_none()
    except DBAPIError:
        return None  # no version table yet: a new database


async def _run(database: Database, action: str, revision: str) -> None:
    from alembic import command

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    logger.info("Migrating: action=%s revision=%s dialect=%s", action, revision, database.dialect)
    async with database.engine.connect() as connection:
        if database.is_sqlite:
            # Batch mode copies tables; foreign keys must be off while it does, and the pragma
            # has no effect inside a transaction.
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.run_sync(run)
        await connection.commit()
