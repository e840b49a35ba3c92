"""Once-only handling of Telegram updates, keyed by update id."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.engine import Database
from bot.db.models import ProcessedUpdate
from bot.db.types import utcnow

logger = logging.getLogger(__name__)

# A handler that started this long ago and never finished died with its process; its update
# may run again. Far above any handler's run time, far below Telegram's 24-hour update retention.
STALE_AFTER = timedelta(seconds=60)
KEEP_FOR = timedelta(days=2)


class Busy(Exception):
    """The update is being handled elsewhere; the sender should deliver it again later."""


async def begin(db: Database, update_id: int, *, reclaim_before: datetime | None = None) -> bool:
    """Record that an update is being handled; return False if it was handled already.

    An unfinished record from a handler that died is taken over once it is older than
    STALE_AFTER, or at once when it predates `reclaim_before` (the start of this process, in
    long-polling mode where no other process can be handling it). A record still fresh
    raises Busy, so a webhook request gets an error and Telegram delivers it again later.
    """
    now = utcnow()
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    async with db.transaction() as session:
        statement = (
            insert(ProcessedUpdate)
            .values(update_id=update_id, received_at=now)
            .on_conflict_do_nothing(index_elements=["update_id"])
        )
        if (await session.execute(statement)).rowcount:
            return True
        # Take over an update whose handler died mid-way, but never one still running.
        cutoff = now - STALE_AFTER
        if reclaim_before is not None:
            cutoff = max(cutoff, reclaim_before)
        retaken = await session.execute(
            update(ProcessedUpdate)
            .where(
                ProcessedUpdate.update_id == update_id,
                ProcessedUpdate.handled_at.is_(None),
                ProcessedUpdate.received_at < cutoff,
            )
            .values(received_at=now)
        )
        if retaken.rowcount:
            logger.warning("Update handled again after a crash: update_id=%s", update_id)
            return True
        handled = await session.scalar(
            select(ProcessedUpdate.handled_at).where(ProcessedUpdate.update_id == update_id)
        )
    if handled is None:
        raise Busy(f"update {update_id} is being handled by another worker")
    logger.info("Update skipped as a replay: update_id=%s", update_id)
    return False


async def finish(db: Database, update_id: int) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(ProcessedUpdate)
            .where(ProcessedUpdate.update_id == update_id)
            .values(handled_at=utcnow())
        )


async def release(db: Database, update_id: int) -> None:
    """Forget an update whose handler failed, so a redelivery runs it again."""
    async with db.transaction() as session:
        await session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.update_id == update_id)
        )


async def purge_old(db: Database) -> int:
    async with db.transaction() as session:
        result = await session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.received_at < utcnow() - KEEP_FOR)
        )
        return result.rowcount or 0
