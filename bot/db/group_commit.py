"""Group commit: requests that arrive while a transaction runs share the next one."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database

Request = TypeVar("Request")
Result = TypeVar("Result")
Write = Callable[[AsyncSession, Sequence[Request]], Awaitable[Sequence[Result]]]


class GroupCommit(Generic[Request, Result]):
    """A queue that runs requests many to a transaction, each caller awaiting its own result.

    `write` gets a session and a batch of requests and returns one result per request, in
    order. A lone request goes out at once, and requests that arrive while a transaction
    runs go together in the next one, up to `max_batch`. A burst so costs one transaction per
    batch instead of one per request. Each caller returns only after the transaction that
    contains its request has committed.

    Requests with equal `key` never share a batch: the later one waits for the next batch,
    so it sees the earlier one committed, as it would running alone. When a batch of
    several fails, each of its requests runs again alone, so one bad request fails only
    its own caller. `write` must therefore be safe to run again after a failed commit.
    """

    def __init__(
        self,
        db: Database,
        write: Write[Request, Result],
        *,
        key: Callable[[Request], Hashable],
        max_batch: int = 500,
    ) -> None:
        self.db = db
        self._write = write
        self._key = key
        self.max_batch = max_batch
        self._queue: deque[tuple[Request, asyncio.Future[Result]]] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        # The writer is a task of its own, so a caller cancelled mid-write cannot leave the
        # others waiting. It ends when the queue is empty.
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        return await future

    async def _write_batches(self) -> None:
        try:
            while self._queue:
                batch = self._take_batch()
                try:
                    await self._commit(batch)
                except Exception as exc:  # noqa: BLE001 - the callers get the error instead
                    if len(batch) == 1:
                        _fail(batch, exc)
                        continue
                    for single in batch:
                        try:
                            await self._commit([single])
                        except Exception as single_exc:  # noqa: BLE001 - as above
                            _fail([single], single_exc)
        except asyncio.CancelledError:
            for _, future in self._queue:
                future.cancel()
            self._queue.clear()
            raise

    def _take_batch(self) -> list[tuple[Request, asyncio.Future[Result]]]:
        batch: list[tuple[Request, asyncio.Future[Result]]] = []
        keys: set[Hashable] = set()
        deferred: list[tuple[Request, asyncio.Future[Result]]] = []
        while self._queue and len(batch) < self.max_batch:
            request, future = self._queue.popleft()
            if future.done():  # the caller was cancelled before its turn
                continue
            key = self._key(request)
            if key in keys:
                deferred.append((request, future))
                continue
            keys.add(key)
            batch.append((request, future))
        self._queue.extendleft(reversed(deferred))
        return batch

    async def _commit(self, batch: list[tuple[Request, asyncio.Future[Result]]]) -> None:
        try:
            async with self.db.transaction() as session:
                results = await self._write(session, [request for request, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def _fail(batch: list[tuple[object, asyncio.Future]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
