"""The outbox on PostgreSQL: delivery workers of several processes claim side by side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.engine import Database, create_database
from bot.db.models import Announcement, AnnouncementStatus, Delivery, DeliveryStatus
from bot.delivery import outbox
from bot.services import events
from bot.services.events import EventFields
from tests.conftest import truncate_all

pytestmark = pytest.mark.postgres

LEASE = timedelta(minutes=2)
# A claim that waited for another worker's row lock instead of skipping the row would wait
# until that worker commits, which the test below does only after this timeout.
CLAIM_TIMEOUT_S = 5.0


@pytest.fixture
async def pg_db(postgres_url) -> AsyncIterator[Database]:
    database = create_database(postgres_url, pool_size=3)
    await truncate_all(database)
    yield database
    await database.dispose()


async def add_deliveries(db: Database, count: int) -> list[int]:
    """Insert one announcement with `count` pending deliveries; return their ids in order."""
    event = await events.create_event(db, EventFields(title="Outbox night"))
    async with db.transaction() as session:
        announcement = Announcement(
            event_id=event.id, text="Doors open", status=AnnouncementStatus.SENDING
        )
        session.add(announcement)
        await session.flush()
        rows = [
            Delivery(
                announcement_id=announcement.id,
                chat_id=1000 + number,
                status=DeliveryStatus.PENDING,
            )
            for number in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def claim_all(db: Database) -> list[int]:
    claimed = []
    while (delivery := await outbox.claim_next(db, lease=LEASE)) is not None:
        claimed.append(delivery.id)
    return claimed


async def test_claim_skips_row_locked_elsewhere(pg_db):
    first, second = await add_deliveries(pg_db, 2)

    # Another worker has locked the oldest delivery and not yet committed its claim.
    async with pg_db.transaction() as other_worker:
        await other_worker.execute(
            select(Delivery.id).where(Delivery.id == first).with_for_update()
        )
        claimed = await asyncio.wait_for(
            outbox.claim_next(pg_db, lease=LEASE, probe=False), CLAIM_TIMEOUT_S
        )

    assert claimed is not None
    assert claimed.id == second


async def test_concurrent_claims_take_each_once(postgres_url, pg_db):
    expected = await add_deliveries(pg_db, 60)
    # One engine per simulated process, each with workers of its own.
    processes = [create_database(postgres_url, pool_size=3) for _ in range(3)]
    try:
        claims = await asyncio.gather(*(claim_all(db) for db in processes for _ in range(3)))
    finally:
        for db in processes:
            await db.dispose()
    claimed_ids = [delivery_id for worker in claims for delivery_id in worker]

    assert sorted(claimed_ids) == expected
    assert len(claimed_ids) == len(set(claimed_ids))
    assert sum(1 for worker in claims if worker) > 1
