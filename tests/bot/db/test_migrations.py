"""Alembic migrations on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.db import migrate
from bot.db.models import Base
from bot.db.types import UTCDateTime

HEAD = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


async def _foreign_keys(db, table):
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: inspect(sync).get_foreign_keys(table))


async def _unique_constraints(db, table):
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: inspect(sync).get_unique_constraints(table))


async def test_head_matches_models(db):
    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": _compare_type})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as connection:
        changes = await connection.run_sync(diff)

    assert changes == []


def _compare_type(context, inspected, metadata_column, inspected_type, metadata_type):
    if isinstance(metadata_type, UTCDateTime):
        return False
    return None


async def test_foreign_key_and_unique_migrate_up_down_up(db):
    await migrate.downgrade(db, "0001")
    fks_down = await _foreign_keys(db, "announcements")
    uniques_down = await _unique_constraints(db, "short_links")

    await migrate.upgrade(db)
    fks_up = await _foreign_keys(db, "announcements")
    uniques_up = await _unique_constraints(db, "short_links")

    assert "fk_announcements_short_link_code_short_links" not in {fk["name"] for fk in fks_down}
    assert "uq_short_links_payload" not in {uq["name"] for uq in uniques_down}
    assert "fk_announcements_short_link_code_short_links" in {fk["name"] for fk in fks_up}
    assert "uq_short_links_payload" in {uq["name"] for uq in uniques_up}
    assert await migrate.current_revision(db) == HEAD


async def test_full_downgrade_and_upgrade(db):
    await migrate.downgrade(db, "base")
    assert await migrate.current_revision(db) is None

    await migrate.upgrade(db)
    assert await migrate.current_revision(db) == HEAD


def test_head_read_from_files_matches_alembic():
    assert migrate.head_revision() == HEAD


async def test_upgrade_at_head_is_a_no_op(db):
    await migrate.upgrade(db)

    assert await migrate.current_revision(db) == HEAD
