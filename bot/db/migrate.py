"""Alembic migrations run from code: `micropop db upgrade` and the upgrade on start."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from bot.db.engine import Database

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(database: Database, revision: str = "head") -> None:
    """Migrate the database up to `revision` (head by default)."""
    await _run(database, "upgrade", revision)


async def downgrade(database: Database, revision: str) -> None:
    await _run(database, "downgrade", revision)


async def current_revision(database: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with database.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def _run(database: Database, action: str, revision: str) -> None:
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
