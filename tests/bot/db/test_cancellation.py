"""A task cancelled as its transaction ends still commits or rolls back and frees the connection.

A service stopping cancels its workers; a timeout cancels the task it wraps. Cut short, the end
of a transaction leaves a connection checked out, and on SQLite that connection keeps the write
lock, so the next writer waits for the busy timeout and fails with "database is locked".
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Event

SLOW_STEP_S = 0.3


async def slow(step, session: AsyncSession):  # type: ignore[no-untyped-def]
    await asyncio.sleep(SLOW_STEP_S)
    return await step(session)


async def add_event(db: Database, title: str) -> None:
    async with db.transaction() as session:
        session.add(Event(title=title))


async def titles(db: Database) -> list[str]:
    async with db.transaction(readonly=True) as session:
        return list((await session.scalars(select(Event.title).order_by(Event.id))).all())


async def cancel_during(task: asyncio.Task[None], times: int) -> None:
    """Cancel `task` once it is inside the slowed step, `times` times, then await it."""
    await asyncio.sleep(SLOW_STEP_S / 3)
    for _ in range(times):
        task.cancel()
        await asyncio.sleep(SLOW_STEP_S / 10)
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("times", [1, 2])
async def test_cancel_during_commit_still_commits(db: Database, monkeypatch, times):
    commit = AsyncSession.commit
    monkeypatch.setattr(AsyncSession, "commit", lambda session: slow(commit, session))

    task = asyncio.create_task(add_event(db, "Committed"))
    await cancel_during(task, times)
    monkeypatch.undo()

    assert await titles(db) == ["Committed"]
    assert db.checked_out() == 0


@pytest.mark.parametrize("times", [1, 2])
async def test_cancel_during_close_returns_connection(db: Database, monkeypatch, times):
    close = AsyncSession.close
    monkeypatch.setattr(AsyncSession, "close", lambda session: slow(close, session))

    async def fail_after_write() -> None:
        async with db.transaction() as session:
            session.add(Event(title="Rolled back"))
            await session.flush()
            raise LookupError("the caller's own failure")

    task = asyncio.create_task(fail_after_write())
    await cancel_during(task, times)
    monkeypatch.undo()

    assert db.checked_out() == 0
    # The next writer gets the lock at once instead of after the busy timeout.
    async with asyncio.timeout(5):
        await add_event(db, "Next")
    assert await titles(db) == ["Next"]


async def test_cancelled_reader_returns_connection(db: Database, monkeypatch):
    close = AsyncSession.close
    monkeypatch.setattr(AsyncSession, "close", lambda session: slow(close, session))

    async def count() -> None:
        async with db.transaction(readonly=True) as session:
            await session.scalar(select(func.count(Event.id)))

    task = asyncio.create_task(count())
    await cancel_during(task, 2)
    monkeypatch.undo()

    assert db.checked_out() == 0


# Counting this far in a recursive query keeps SQLite busy for roughly a second here.
SLOW_QUERY = text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
    " SELECT count(*) FROM n"
)


async def test_cancelled_statement_frees_write_lock(sqlite_db: Database):
    # A connection cut short mid-statement used to be closed with its cursor still open, so
    # SQLite kept its write lock until the cursor was garbage-collected. The next writer
    # then waited out the 30 s busy timeout. Stopping delivery workers keep the cancelled
    # task's exception, and the exception keeps the cursor.
    async def write_slowly() -> None:
        async with sqlite_db.transaction() as session:
            session.add(Event(title="Cut short"))
            await session.flush()
            await session.execute(SLOW_QUERY)

    task = asyncio.create_task(write_slowly())
    await asyncio.sleep(0.3)
    task.cancel()
    outcomes = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError)

    async with asyncio.timeout(10):
        await add_event(sqlite_db, "Next writer")

    assert await titles(sqlite_db) == ["Next writer"]
    assert sqlite_db.checked_out() == 0
