"""Helpers for organiser console tests: a stage, commands from chats, and the replies they get."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import ProcessedUpdate
from bot.emulator import Chat, User
from bot.rehearsal.stage import Stage
from bot.services import organisers

# The bot keeps Telegram's per-group budget of 20 messages a minute, and a console test sends more.
FAST_RATES = {"rate_private_per_s": 100.0, "rate_group_per_min": 6000.0}
ANONYMOUS_ADMIN = User(1087968824, "Group", username="GroupAnonymousBot", is_bot=True)
TELEGRAM_SERVICE = User(777000, "Telegram")


@pytest.fixture
async def console(tmp_path) -> AsyncIterator[Stage]:
    """A bot on SQLite with an organiser group, limits relaxed for many replies."""
    async with Stage.on_sqlite(tmp_path, **FAST_RATES) as stage:
        yield stage


@pytest.fixture
async def any_console(database_url: str) -> AsyncIterator[Stage]:
    """The console stage on each database of the `database_url` fixture: SQLite, PostgreSQL."""
    async with Stage(database_url, **FAST_RATES) as stage:
        yield stage


def bot_messages(stage: Stage, chat_id: int) -> list[dict[str, Any]]:
    """List what our bot sent in a chat, matched by id because GroupAnonymousBot is a bot too."""
    if chat_id not in stage.emulator.state.chats:
        return []
    bot_id = stage.bot.bot.id
    return [m for m in stage.emulator.messages(chat_id) if m.get("from", {}).get("id") == bot_id]


def shown(message: dict[str, Any]) -> str:
    return message.get("text") or message.get("caption") or ""


async def say(
    stage: Stage,
    text: str,
    *,
    user: User | None = None,
    chat: Chat | int | None = None,
    count: int = 1,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Send `text` and return the next `count` messages the bot sends in that chat."""
    target = chat if chat is not None else stage.organisers
    assert target is not None
    chat_id = target.id if isinstance(target, Chat) else target
    before = len(bot_messages(stage, chat_id))
    sender = user or stage.organiser
    assert sender is not None
    stage.emulator.send_text(sender, text, chat=target, **kwargs)

    def replies() -> list[dict[str, Any]] | None:
        found = bot_messages(stage, chat_id)[before:]
        return found[:count] if len(found) >= count else None

    return await stage.emulator.wait_for(replies, timeout=10)


async def one_reply(stage: Stage, text: str, **kwargs: Any) -> str:
    (message,) = await say(stage, text, **kwargs)
    return shown(message)


async def handled(stage: Stage, update_id: int, timeout: float = 10.0) -> None:
    """Wait until the bot finished handling an update."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with stage.bot.db.transaction() as session:
            done = await session.scalar(
                select(ProcessedUpdate.handled_at).where(ProcessedUpdate.update_id == update_id)
            )
        if done is not None:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"update {update_id} not handled within {timeout} s")


async def audit_entries(stage: Stage) -> list[organisers.AuditView]:
    return await organisers.recent(stage.bot.db, limit=1000)
