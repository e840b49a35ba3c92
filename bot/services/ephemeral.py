"""Ephemeral messages: claim codes and live countdowns the bot deletes from chats when due."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.engine import Database
from bot.db.models import EphemeralMessage
from bot.db.types import utcnow

logger = logging.getLogger(__name__)

# Telegram lets a bot delete its own message in a private chat for 48 hours after sending it.
# The deleter runs every 30 seconds, and the latest deadline leaves an hour for restarts.
DELETE_WINDOW = timedelta(hours=48)
LATEST_DELETE = DELETE_WINDOW - timedelta(hours=1)
RETRY_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class DueMessage:
    id: int
    chat_id: int
    message_id: int
    kind: str
    sent_at: datetime
    attempts: int

    def deletable(self, now: datetime) -> bool:
        """Return whether Telegram still accepts a deleteMessage for it."""
        return now < self.sent_at + DELETE_WINDOW


def delete_at(sent_at: datetime, ttl: timedelta) -> datetime:
    """Return when a message sent at `sent_at` is deleted: after `ttl`, inside the window."""
    return sent_at + min(ttl, LATEST_DELETE)


async def register(
    db: Database,
    chat_id: int,
    message_id: int,
    *,
    kind: str,
    ttl: timedelta,
    now: datetime | None = None,
) -> datetime:
    """Record a sent message for deletion; return when it will be deleted."""
    sent_at = now or utcnow()
    deadline = delete_at(sent_at, ttl)
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    async with db.transaction() as session:
        await session.execute(
            insert(EphemeralMessage)
            .values(
                chat_id=chat_id,
                message_id=message_id,
                kind=kind[:32],
                sent_at=sent_at,
                delete_after=deadline,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["chat_id", "message_id"])
        )
    return deadline


async def due(db: Database, *, now: datetime | None = None, limit: int = 200) -> list[DueMessage]:
    """List messages whose deletion is due, oldest deadline first."""
    now = now or utcnow()
    async with db.transaction() as session:
        rows = await session.scalars(
            select(EphemeralMessage)
            .where(EphemeralMessage.delete_after <= now)
            .order_by(EphemeralMessage.delete_after, EphemeralMessage.id)
            .limit(limit)
        )
        return [
            DueMessage(row.id, row.chat_id, row.message_id, row.kind, row.sent_at, row.attempts)
            for row in rows
        ]


async def settle(db: Database, message_id: int) -> None:
    """Forget a message that was deleted, or that can no longer be deleted."""
    async with db.transaction() as session:
        await session.execute(delete(EphemeralMessage).where(EphemeralMessage.id == message_id))


async def postpone(db: Database, message_id: int, *, now: datetime | None = None) -> None:
    """Try a failed deletion again on a later run."""
    retry_at = (now or utcnow()) + RETRY_AFTER
    async with db.transaction() as session:
        await session.execute(
            update(EphemeralMessage)
            .where(EphemeralMessage.id == message_id)
            .values(delete_after=retry_at, attempts=EphemeralMessage.attempts + 1)
        )
