"""Tests of the short-link redirect route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.db.engine import Database, create_database
from bot.db.models import Base
from bot.services import shortlinks
from bot.settings import Settings
from bot.web.shortlinks import setup_shortlink_routes


@pytest.fixture
async def links_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'links.sqlite3'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
async def client(links_db: Database) -> AsyncIterator[TestClient]:
    settings = Settings(bot_token="123:abc", bot_username="micropop_bot", _env_file=None)
    app = web.Application()
    setup_shortlink_routes(app, links_db, settings)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_known_code_redirects_to_bot(client: TestClient, links_db: Database) -> None:
    async with links_db.transaction() as session:
        code = await shortlinks.short_link_for(session, "e1-bc")
    response = await client.get(f"/l/{code}", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "https://t.me/micropop_bot?start=e1-bc"


async def test_unknown_code_gets_404_page(client: TestClient) -> None:
    response = await client.get("/l/zzz", allow_redirects=False)
    assert response.status == 404
    assert "Link not found" in await response.text()


async def test_malformed_code_gets_404(client: TestClient) -> None:
    response = await client.get("/l/%3Cscript%3E", allow_redirects=False)
    assert response.status == 404
