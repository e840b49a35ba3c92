"""Tests of the database set-up: opening the pool's connections ahead of the first request."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import QueuePool

from bot.db.engine import Database
from bot.db.models import Drop
from bot.services import claim_desk


async def test_open_connections_fills_pool(db: Database) -> None:
    prepared: list[int] = []

    async def prepare(connection: AsyncConnection) -> None:
        raw = await connection.get_raw_connection()
        prepared.append(id(raw.driver_connection))

    opened = await db.open_connections(prepare=prepare)
    pool = db.engine.pool
    assert isinstance(pool, QueuePool)
    assert opened == pool.size()
    assert len(set(prepared)) == opened
    assert pool.checkedin() == opened
    assert pool.checkedout() == 0


async def test_claim_statements_prepare_cleanly(db: Database) -> None:
    await db.open_connections(prepare=claim_desk.prepare_statements)
    async with db.transaction() as session:
        assert (await session.scalars(select(Drop))).all() == []
