"""Once-only handling of Telegram updates, keyed by update id."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.group_commit import GroupCommit
from bot.db.models import ProcessedUpdate
from bot.db.types import utcnow

logger = logging.getLogger(__name__)

# A handler that started this long ago and never finished died with its process; its update
# may run again. Far above any handler's run time, far below Telegram's 24-hour update retention.
STALE_AFTER = timedelta(seconds=60)
KEEP_FOR = timedelta(days=2)
# Update ids per shared transaction of an UpdateLog; well under the bind parameter limits of
# SQLite (32,766) and asyncpg (32,767).
MAX_BATCH = 500

TABLE = ProcessedUpdate.__table__


class Busy(Exception):
    """The update is being handled elsewhere; the sender should deliver it again later."""


class Step(enum.Enum):
    BEGIN = "begin"
    FINISH = "finish"


class Start(enum.Enum):
    """Outcome of `begin_in` for one update id."""

    HANDLE = "handle"  # recorded now, or taken over from a handler that died
    HANDLED = "handled"  # handled before: a replay
    BUSY = "busy"  # a handler is running elsewhere


async def begin(db: Database, update_id: int, *, reclaim_before: datetime | None = None) -> bool:
    """Record that an update is being handled; return False if it was handled already.

    An unfinished record from a handler that died is taken over once it is older than
    STALE_AFTER, or at once when it predates `reclaim_before` (the start of this process, in
    long-polling mode where no other process can be handling it). A record still fresh
    raises Busy, so a webhook request gets an error and Telegram delivers it again later.
    """
    async with db.transaction() as session:
        starts = await begin_in(session, [update_id], reclaim_before=reclaim_before)
    return _started(update_id, starts[update_id])


async def begin_in(
    session: AsyncSession, update_ids: Iterable[int], *, reclaim_before: datetime | None = None
) -> dict[int, Start]:
    """Record several updates as being handled in the caller's transaction (see `begin`)."""
    now = utcnow()
    ordered = sorted(set(update_ids))
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    # Rows go in ascending id order, so two processes recording overlapping batches on
    # PostgreSQL wait for each other in the same order instead of deadlocking.
    recorded = await session.scalars(
        insert(TABLE)
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(TABLE.c.update_id),
        [{"update_id": update_id, "received_at": now} for update_id in ordered],
    )
    starts = dict.fromkeys(recorded, Start.HANDLE)
    conflicts = [update_id for update_id in ordered if update_id not in starts]
    if not conflicts:
        return starts

    # Take over an update whose handler died mid-way, but never one still running.
    cutoff = now - STALE_AFTER
    if reclaim_before is not None:
        cutoff = max(cutoff, reclaim_before)
    retaken = await session.scalars(
        update(TABLE)
        .where(
            TABLE.c.update_id.in_(conflicts),
            TABLE.c.handled_at.is_(None),
            TABLE.c.received_at < cutoff,
        )
        .values(received_at=now)
        .returning(TABLE.c.update_id)
    )
    for update_id in retaken:
        logger.warning("Update handled again after a crash: update_id=%s", update_id)
        starts[update_id] = Start.HANDLE
    remaining = [update_id for update_id in conflicts if update_id not in starts]
    if remaining:
        rows = await session.execute(
            select(TABLE.c.update_id).where(
                TABLE.c.update_id.in_(remaining), TABLE.c.handled_at.is_not(None)
            )
        )
        handled = set(rows.scalars())
        for update_id in remaining:
            starts[update_id] = Start.HANDLED if update_id in handled else Start.BUSY
    return starts


async def finish(db: Database, update_id: int) -> None:
    async with db.transaction() as session:
        await finish_in(session, [update_id])


async def finish_in(session: AsyncSession, update_ids: Iterable[int]) -> None:
    await session.execute(
        update(TABLE).where(TABLE.c.update_id.in_(sorted(update_ids))).values(handled_at=utcnow())
    )


async def release(db: Database, update_id: int) -> None:
    """Forget an update whose handler failed, so a redelivery runs it again."""
    async with db.transaction() as session:
        await session.execute(delete(TABLE).where(TABLE.c.update_id == update_id))


async def purge_old(db: Database) -> int:
    async with db.transaction() as session:
        result = await session.execute(
            delete(TABLE).where(TABLE.c.received_at < utcnow() - KEEP_FOR)
        )
        return result.rowcount or 0


def _started(update_id: int, start: Start) -> bool:
    if start is Start.BUSY:
        raise Busy(f"update {update_id} is being handled by another worker")
    if start is Start.HANDLED:
        logger.info("Update skipped as a replay: update_id=%s", update_id)
        return False
    return True


class UpdateLog:
    """Once-only records of one process, written many updates to a transaction.

    A burst so costs one transaction per batch instead of two per update (see GroupCommit).
    Each call returns only once its own record is committed, so `begin` and `finish` keep
    the guarantees of the module functions.
    """

    def __init__(self, db: Database, *, reclaim_before: datetime | None = None) -> None:
        self.db = db
        self.reclaim_before = reclaim_before
        self._writes: GroupCommit[tuple[Step, int], Start | None] = GroupCommit(
            db, self._write, key=lambda step: step, max_batch=MAX_BATCH
        )

    async def begin(self, update_id: int) -> bool:
        """Record that an update is being handled, as `begin` does; raise Busy likewise."""
        start = await self._writes.submit((Step.BEGIN, update_id))
        assert start is not None
        return _started(update_id, start)

    async def finish(self, update_id: int) -> None:
        await self._writes.submit((Step.FINISH, update_id))

    async def release(self, update_id: int) -> None:
        await release(self.db, update_id)

    async def _write(
        self, session: AsyncSession, steps: Sequence[tuple[Step, int]]
    ) -> list[Start | None]:
        # Finishes go first: a replay queued behind its own finish then finds it handled.
        finished = [update_id for step, update_id in steps if step is Step.FINISH]
        if finished:
            await finish_in(session, finished)
        begun = [update_id for step, update_id in steps if step is Step.BEGIN]
        starts = (
            await begin_in(session, begun, reclaim_before=self.reclaim_before) if begun else {}
        )
        return [starts[update_id] if step is Step.BEGIN else None for step, update_id in steps]
