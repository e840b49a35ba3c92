"""Once-only update handling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.db.models import ProcessedUpdate
from bot.db.types import utcnow
from bot.services import updates


async def age_record(db, update_id: int, by: timedelta) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(ProcessedUpdate)
            .where(ProcessedUpdate.update_id == update_id)
            .values(received_at=utcnow() - by)
        )


async def test_first_delivery_is_handled(db):
    assert await updates.begin(db, 1) is True


async def test_finished_update_is_skipped(db):
    await updates.begin(db, 1)
    await updates.finish(db, 1)

    assert await updates.begin(db, 1) is False


async def test_update_in_progress_raises_busy(db):
    await updates.begin(db, 1)

    with pytest.raises(updates.Busy):
        await updates.begin(db, 1)


async def test_stale_unfinished_update_is_taken_over(db):
    await updates.begin(db, 1)
    await age_record(db, 1, timedelta(minutes=2))

    assert await updates.begin(db, 1) is True


async def test_unfinished_update_of_earlier_run_taken_over_when_polling(db):
    await updates.begin(db, 1)
    await age_record(db, 1, timedelta(seconds=5))

    assert await updates.begin(db, 1, reclaim_before=utcnow() - timedelta(seconds=1)) is True


async def test_failed_handler_releases_update(db):
    await updates.begin(db, 1)
    await updates.release(db, 1)

    assert await updates.begin(db, 1) is True
