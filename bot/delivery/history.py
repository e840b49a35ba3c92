"""The limiter's recent sends, kept in the database across a restart of the bot service."""

from __future__ import annotations

import json
import logging

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import StateValue
from bot.delivery.limiter import Limiter

logger = logging.getLogger(__name__)

KEY = "limiter.recent_sends"


async def save(db: Database, limiter: Limiter) -> None:
    """Store what the limiter sent within its windows; called on a clean stop."""
    value = json.dumps(limiter.recent_sends())
    async with db.transaction() as session:
        row = await session.get(StateValue, KEY)
        if row is None:
            session.add(StateValue(key=KEY, value=value))
        else:
            row.value = value


async def load(db: Database, limiter: Limiter) -> None:
    """Restore the sends a stopped process made recently, so limits hold over the restart.

    NOTE: a process killed without a clean stop saves nothing. Its last minute of group sends
    is then unknown, so the first sends after the restart may meet a 429, which pauses and
    recovers.
    """
    async with db.transaction(readonly=True) as session:
        value = await session.scalar(select(StateValue.value).where(StateValue.key == KEY))
    if not value:
        return
    try:
        limiter.restore_recent(json.loads(value))
    except (ValueError, TypeError, AssertionError) as exc:
        logger.warning("Limiter history ignored: error=%s", exc)
