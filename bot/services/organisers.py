"""The organiser group's current chat id and the audit log of organiser actions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import AuditEntry, StateValue

logger = logging.getLogger(__name__)

CHAT_ID_KEY = "organiser_chat_id"
# The configured id that the stored one was seeded from: a new configured id starts over.
CONFIGURED_KEY = "organiser_chat_configured"
# Ids the group had before migrations, newest first.
PREVIOUS_KEY = "organiser_chat_previous"
MAX_PREVIOUS = 5
MAX_DETAIL = 1000


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    actor_user_id: int | None
    actor_name: str
    chat_id: int | None
    action: str
    detail: str
    result: str


async def chat_id(db: Database, configured: int) -> int:
    """Return the organiser group's current id: the configured one, moved by migrations.

    The stored id follows the group when Telegram turns it into a supergroup. Configuring a
    different group replaces the stored id. 0 means no organiser group is set up.
    """
    return (await chat_ids(db, configured))[0]


async def chat_ids(db: Database, configured: int) -> list[int]:
    """List the organiser group's current id, then the ids it had before migrations.

    A message sent in the old group just before a migration can arrive after it, and it still
    comes from the organisers.
    """
    async with db.transaction() as session:
        stored = await session.get(StateValue, CHAT_ID_KEY)
        seed = await session.get(StateValue, CONFIGURED_KEY)
        if stored is not None and seed is not None and seed.value == str(configured):
            previous = await session.get(StateValue, PREVIOUS_KEY)
            return [int(stored.value), *_ids(previous.value if previous else "")]
        await _put(session, db.dialect, CHAT_ID_KEY, str(configured))
        await _put(session, db.dialect, CONFIGURED_KEY, str(configured))
        await _put(session, db.dialect, PREVIOUS_KEY, "")
    logger.info("Organiser chat seeded from settings: chat_id=%s", configured)
    return [configured]


async def move_chat(db: Database, old_id: int, new_id: int) -> bool:
    """Record that the organiser group `old_id` is now `new_id`, and return whether it moved.

    Only the current id moves, so a replayed or foreign migration message changes nothing.
    """
    async with db.transaction() as session:
        result = await session.execute(
            update(StateValue)
            .where(StateValue.key == CHAT_ID_KEY, StateValue.value == str(old_id))
            .values(value=str(new_id))
        )
        moved = bool(result.rowcount)
        if moved:
            previous = await session.get(StateValue, PREVIOUS_KEY)
            ids = [old_id, *_ids(previous.value if previous else "")][:MAX_PREVIOUS]
            await _put(session, db.dialect, PREVIOUS_KEY, ",".join(map(str, ids)))
    if moved:
        logger.warning("Organiser chat migrated: old_chat_id=%s new_chat_id=%s", old_id, new_id)
    return moved


async def record(
    db: Database,
    actor_user_id: int | None,
    actor_name: str,
    chat_id: int | None,
    action: str,
    detail: str,
    result: str,
) -> None:
    """Append one entry to the audit log: who did what, where, and with which result."""
    async with db.transaction() as session:
        session.add(
            AuditEntry(
                actor_user_id=actor_user_id,
                actor_name=actor_name[:300],
                chat_id=chat_id,
                action=action[:64],
                detail=detail[:MAX_DETAIL],
                result=result[:32],
            )
        )
    logger.info(
        "Organiser action: action=%s result=%s user_id=%s chat_id=%s",
        action,
        result,
        actor_user_id,
        chat_id,
    )


async def recent(db: Database, limit: int = 20) -> list[AuditView]:
    """List the newest audit entries, newest first."""
    async with db.transaction() as session:
        rows = await session.scalars(
            select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        )
        return [
            AuditView(
                id=row.id,
                at=row.at,
                actor_user_id=row.actor_user_id,
                actor_name=row.actor_name,
                chat_id=row.chat_id,
                action=row.action,
                detail=row.detail,
                result=row.result,
            )
            for row in rows
        ]


async def _put(session: AsyncSession, dialect: str, key: str, value: str) -> None:
    # An upsert, so two processes seeding at once do not collide on the primary key.
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(StateValue).values(key=key, value=value)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["key"], set_={"value": value})
    )


def _ids(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part]
