"""Attendees: arrival through a deep link, subscription, unreachable marks and /forget."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Attendee
from bot.db.types import utcnow
from bot.services.views import AttendeeView

logger = logging.getLogger(__name__)

SUPPORTED_LANGUAGES = ("en", "de")


@dataclass(frozen=True)
class Arrival:
    """Who arrived, from where, as the Telegram layer saw it."""

    telegram_user_id: int
    chat_id: int
    display_name: str
    username: str | None
    language_code: str | None
    source: str


def pick_language(language_code: str | None) -> str:
    base = (language_code or "").split("-")[0].lower()
    return base if base in SUPPORTED_LANGUAGES else SUPPORTED_LANGUAGES[0]


def to_view(row: Attendee, *, is_new: bool = False) -> AttendeeView:
    return AttendeeView(
        id=row.id,
        event_id=row.event_id,
        telegram_user_id=row.telegram_user_id,
        chat_id=row.chat_id,
        display_name=row.display_name,
        language=row.language,
        arrival_source=row.arrival_source,
        subscribed=row.subscribed,
        unreachable=row.unreachable,
        is_new=is_new,
    )


async def register(db: Database, event_id: int, arrival: Arrival) -> AttendeeView:
    """Store or refresh the attendee and (re)subscribe them."""
    async with db.transaction() as session:
        row, is_new = await register_in(session, event_id, arrival)
        return to_view(row, is_new=is_new)


async def register_in(
    session: AsyncSession, event_id: int, arrival: Arrival
) -> tuple[Attendee, bool]:
    """Upsert the attendee in the caller's transaction; return the row and whether it is new.

    One statement, so concurrent /start presses by the same or different users never collide
    on the unique (event, user) key. The first arrival source is kept.
    """
    [registered] = await register_many(session, [(event_id, arrival)])
    return registered


async def register_many(
    session: AsyncSession, arrivals: Sequence[tuple[int, Arrival]]
) -> list[tuple[Attendee, bool]]:
    """Upsert several attendees with one statement; return (row, is new) for each, in order.

    Each (event id, user id) may appear once: PostgreSQL rejects an upsert that touches one
    row twice.
    """
    now = utcnow()
    parameters = [
        {
            "event_id": event_id,
            "telegram_user_id": arrival.telegram_user_id,
            "chat_id": arrival.chat_id,
            "display_name": arrival.display_name[:300],
            "username": arrival.username,
            "language": pick_language(arrival.language_code),
            "arrival_source": arrival.source[:64],
            "subscribed": True,
            "consent": True,
            "unreachable": False,
            "joined_at": now,
            "last_seen_at": now,
        }
        for event_id, arrival in arrivals
    ]
    # Rows go in key order, so two processes upserting overlapping batches on PostgreSQL
    # lock them in the same order instead of deadlocking.
    parameters.sort(key=lambda row: (row["event_id"], row["telegram_user_id"]))
    statement = _upsert_statement(session.bind.dialect.name)
    rows = (await session.execute(statement, parameters)).scalars()
    # PostgreSQL returned these rows out of parameter order, so they are matched by key.
    by_key = {(row.event_id, row.telegram_user_id): row for row in rows}
    registered = []
    for event_id, arrival in arrivals:
        row = by_key[(event_id, arrival.telegram_user_id)]
        # joined_at is not refreshed on conflict, so it equals `now` only for a new row.
        registered.append((row, row.joined_at == now))
    return registered


@functools.cache
def _upsert_statement(dialect: str) -> Insert:
    # Built once per dialect and run with parameters: building the statement, its EXCLUDED
    # alias above all, took longer than running it.
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Attendee)
    refreshed: dict[str, Any] = {
        key: statement.excluded[key]
        for key in ("chat_id", "display_name", "username", "language", "last_seen_at")
    }
    refreshed.update(subscribed=True, unreachable=False, unreachable_at=None)
    return (
        statement.on_conflict_do_update(
            index_elements=["event_id", "telegram_user_id"], set_=refreshed
        )
        .returning(Attendee)
        .execution_options(populate_existing=True)
    )


async def find(db: Database, event_id: int, telegram_user_id: int) -> AttendeeView | None:
    async with db.transaction(readonly=True) as session:
        row = await find_row(session, event_id, telegram_user_id)
        return to_view(row) if row else None


async def find_row(session: AsyncSession, event_id: int, telegram_user_id: int) -> Attendee | None:
    result = await session.execute(
        select(Attendee).where(
            Attendee.event_id == event_id, Attendee.telegram_user_id == telegram_user_id
        )
    )
    return result.scalar_one_or_none()


async def set_subscribed(
    db: Database, event_id: int, telegram_user_id: int, subscribed: bool
) -> AttendeeView | None:
    async with db.transaction() as session:
        row = await find_row(session, event_id, telegram_user_id)
        if row is None:
            return None
        row.subscribed = subscribed
        return to_view(row)


async def mark_unreachable(session: AsyncSession, chat_id: int) -> None:
    """Mark every attendee row of a chat unreachable (the bot was blocked or the user is gone)."""
    await session.execute(
        update(Attendee)
        .where(Attendee.chat_id == chat_id, Attendee.unreachable.is_(False))
        .values(unreachable=True, unreachable_at=utcnow())
    )
