"""Group commit: many requests to a transaction, each caller with its own result."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from bot.db.group_commit import GroupCommit


def count_commits(db) -> list[int]:
    commits = [0]

    def on_commit(_connection) -> None:
        commits[0] += 1

    event.listen(db.engine.sync_engine, "commit", on_commit)
    return commits


async def test_burst_shares_transactions(sqlite_db):
    batches: list[list[int]] = []

    async def write(session, requests):
        await session.execute(text("SELECT 1"))
        batches.append(list(requests))
        return [request * 10 for request in requests]

    writes = GroupCommit(sqlite_db, write, key=lambda request: request)
    commits = count_commits(sqlite_db)

    results = await asyncio.gather(*(writes.submit(n) for n in range(100)))

    assert results == [n * 10 for n in range(100)]
    assert len(batches) < 10
    assert commits[0] == len(batches)


async def test_equal_keys_never_share_a_batch(sqlite_db):
    batches: list[list[tuple[str, int]]] = []

    async def write(_session, requests):
        batches.append(list(requests))
        return [len(batches)] * len(requests)

    writes = GroupCommit(sqlite_db, write, key=lambda request: request[0])

    first, second, other = await asyncio.gather(
        writes.submit(("ada", 1)), writes.submit(("ada", 2)), writes.submit(("bob", 1))
    )

    for batch in batches:
        keys = [key for key, _ in batch]
        assert len(keys) == len(set(keys))
    assert second > first
    assert other == first


async def test_batch_size_is_capped(sqlite_db):
    sizes: list[int] = []

    async def write(_session, requests):
        sizes.append(len(requests))
        return list(requests)

    writes = GroupCommit(sqlite_db, write, key=lambda request: request, max_batch=7)

    await asyncio.gather(*(writes.submit(n) for n in range(30)))

    assert max(sizes) <= 7
    assert sum(sizes) == 30


async def test_bad_request_fails_only_its_caller(sqlite_db):
    async def write(_session, requests):
        if "bad" in requests:
            raise ValueError("bad request")
        return [request.upper() for request in requests]

    writes = GroupCommit(sqlite_db, write, key=lambda request: request)

    outcomes = await asyncio.gather(
        writes.submit("ada"), writes.submit("bad"), writes.submit("bob"), return_exceptions=True
    )

    assert outcomes[0] == "ADA"
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2] == "BOB"


async def test_cancelled_caller_leaves_others_served(sqlite_db):
    release = asyncio.Event()

    async def write(_session, requests):
        await release.wait()
        return list(requests)

    writes = GroupCommit(sqlite_db, write, key=lambda request: request)
    cancelled = asyncio.create_task(writes.submit(1))
    waiting = asyncio.create_task(writes.submit(2))
    await asyncio.sleep(0.05)

    cancelled.cancel()
    release.set()

    assert await waiting == 2
    assert cancelled.cancelled()
