"""Tests of short-link codes: stable, short, collision-safe."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db.engine import Database, create_database
from bot.db.models import Base, ShortLink
from bot.errors import InputError
from bot.services import shortlinks
from bot.settings import Settings


@pytest.fixture
async def links_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'links.sqlite3'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


async def code_for(db: Database, payload: str) -> str:
    async with db.transaction() as session:
        return await shortlinks.short_link_for(session, payload)


async def test_code_is_short_alphanumeric(links_db: Database) -> None:
    code = await code_for(links_db, "e1-bc")
    assert re.fullmatch(r"[A-Za-z0-9]{3,6}", code)


async def test_same_payload_gets_same_code(links_db: Database) -> None:
    assert await code_for(links_db, "e1-bc") == await code_for(links_db, "e1-bc")


async def test_code_resolves_to_payload(links_db: Database) -> None:
    code = await code_for(links_db, "d2f-qr")
    assert await shortlinks.resolve(links_db, code) == "d2f-qr"


async def test_unknown_code_resolves_to_none(links_db: Database) -> None:
    assert await shortlinks.resolve(links_db, "zzz") is None


async def test_malformed_code_resolves_to_none(links_db: Database) -> None:
    assert await shortlinks.resolve(links_db, "../etc") is None


async def test_taken_code_moves_to_longer_one(links_db: Database) -> None:
    first_choice = shortlinks._candidates("e1-bc")[0]
    async with links_db.transaction() as session:
        session.add(ShortLink(code=first_choice, payload="someone-else"))
    code = await code_for(links_db, "e1-bc")
    assert len(code) == 4
    assert await shortlinks.resolve(links_db, code) == "e1-bc"


async def test_many_payloads_get_distinct_codes(links_db: Database) -> None:
    payloads = [f"e{number}-qr" for number in range(300)]
    codes = [await code_for(links_db, payload) for payload in payloads]
    assert len(set(codes)) == len(payloads)
    for payload, code in zip(payloads[:20], codes[:20], strict=True):
        assert await shortlinks.resolve(links_db, code) == payload


async def test_invalid_payload_is_rejected(links_db: Database) -> None:
    with pytest.raises(InputError, match="1-64 characters"):
        await code_for(links_db, "has space")


def test_short_url_uses_public_base() -> None:
    settings = Settings(bot_token="123:abc", public_base_url="https://popup.com", _env_file=None)
    assert shortlinks.short_url(settings, "Ab3") == "https://popup.com/l/Ab3"
