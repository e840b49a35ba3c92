"""Once-only update handling."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event, update

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


def count_commits(db) -> list[int]:
    commits = [0]

    def on_commit(_connection) -> None:
        commits[0] += 1

    event.listen(db.engine.sync_engine, "commit", on_commit)
    return commits


async def test_update_log_shares_transactions_in_a_burst(db):
    log = updates.UpdateLog(db)
    commits = count_commits(db)

    started = await asyncio.gather(*(log.begin(update_id) for update_id in range(1, 201)))
    await asyncio.gather(*(log.finish(update_id) for update_id in range(1, 201)))

    assert all(started)
    assert commits[0] < 20
    replays = await asyncio.gather(*(log.begin(update_id) for update_id in range(1, 201)))
    assert not any(replays)


async def test_update_log_skips_a_finished_update(db):
    log = updates.UpdateLog(db)
    assert await log.begin(7) is True
    await log.finish(7)

    assert await log.begin(7) is False
    assert await updates.begin(db, 7) is False


async def test_update_log_same_update_twice_in_one_batch(db):
    log = updates.UpdateLog(db)

    outcomes = await asyncio.gather(log.begin(3), log.begin(3), return_exceptions=True)

    assert outcomes[0] is True
    assert isinstance(outcomes[1], updates.Busy)


async def test_update_log_respects_other_process_records(db):
    await updates.begin(db, 11)
    await updates.begin(db, 12)
    await updates.finish(db, 12)
    log = updates.UpdateLog(db)

    outcomes = await asyncio.gather(
        log.begin(11), log.begin(12), log.begin(13), return_exceptions=True
    )

    assert isinstance(outcomes[0], updates.Busy)
    assert outcomes[1] is False
    assert outcomes[2] is True


async def test_update_log_reclaims_dead_run_record(db):
    await updates.begin(db, 21)
    await age_record(db, 21, timedelta(seconds=5))
    log = updates.UpdateLog(db, reclaim_before=utcnow() - timedelta(seconds=1))

    assert await log.begin(21) is True


async def test_update_log_failure_reaches_every_waiter(db, monkeypatch):
    log = updates.UpdateLog(db)

    async def broken(*_args, **_kwargs):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(updates, "begin_in", broken)
    outcomes = await asyncio.gather(log.begin(31), log.begin(32), return_exceptions=True)
    monkeypatch.undo()

    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert await log.begin(31) is True
