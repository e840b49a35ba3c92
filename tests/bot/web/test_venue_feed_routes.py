"""Tests of the hardware feed routes over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.db.engine import Database, create_database
from bot.db.models import Base, Event, PrintJob
from bot.services import venue_feed
from bot.settings import Settings
from bot.web.feed import setup_feed_routes

TOKEN = "main-hall-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings() -> Settings:
    return Settings(
        bot_token="123:abc",
        bot_username="micropop_bot",
        public_base_url="https://popup.com",
        venue_tokens=f"main-hall:{TOKEN}",
        _env_file=None,
    )


@pytest.fixture
async def feed_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'feed.sqlite3'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
async def alerts() -> list[str]:
    return []


@pytest.fixture
async def client(
    feed_db: Database, settings: Settings, alerts: list[str]
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async def on_alert(text: str) -> None:
        alerts.append(text)

    app = web.Application()
    setup_feed_routes(app, feed_db, settings, on_alert=on_alert)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def publish(db: Database, kind: str, payload: dict[str, object]) -> int:
    async with db.transaction() as session:
        return await venue_feed.publish(session, kind, payload)


async def test_missing_token_gets_401(client: TestClient) -> None:
    response = await client.get("/hardware/feed?timeout=0")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_wrong_token_gets_401(client: TestClient) -> None:
    response = await client.get(
        "/hardware/feed?timeout=0", headers={"Authorization": "Bearer main-hall-token-0000000000"}
    )
    assert response.status == 401


async def test_feed_returns_waiting_events(client: TestClient, feed_db: Database) -> None:
    event_id = await publish(feed_db, "announcement", {"text": "Doors open", "start": "e1-bc"})
    response = await client.get("/hardware/feed?after=0&timeout=10", headers=AUTH)
    body = await response.json()
    [event] = body["events"]
    assert body["cursor"] == event_id
    assert event["payload"]["deep_link"] == "https://t.me/micropop_bot?start=e1-bc"
    assert event["payload"]["short_url"].startswith("https://popup.com/l/")


async def test_long_poll_wakes_on_publish(client: TestClient, feed_db: Database) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(client.get("/hardware/feed?after=0&timeout=20", headers=AUTH))
    await asyncio.sleep(0.2)
    await publish(feed_db, "receipt", {"item": "Tote"})
    body = await (await poll).json()
    assert len(body["events"]) == 1
    assert time.monotonic() - started < 0.8


async def test_long_poll_sees_other_process(
    client: TestClient, feed_db: Database, tmp_path: Path
) -> None:
    other = create_database(f"sqlite+aiosqlite:///{tmp_path / 'feed.sqlite3'}")
    poll = asyncio.create_task(client.get("/hardware/feed?after=0&timeout=20", headers=AUTH))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await publish(other, "receipt", {"item": "Tote"})
    body = await (await poll).json()
    await other.dispose()
    assert len(body["events"]) == 1
    assert time.monotonic() - started < 2.0


async def test_empty_poll_times_out(client: TestClient) -> None:
    started = time.monotonic()
    response = await client.get("/hardware/feed?after=5&timeout=1", headers=AUTH)
    body = await response.json()
    assert body == {"events": [], "cursor": 5}
    assert 0.9 < time.monotonic() - started < 3.0


async def test_invalid_after_gets_400(client: TestClient) -> None:
    response = await client.get("/hardware/feed?after=-3", headers=AUTH)
    assert response.status == 400
    assert "after" in (await response.json())["error"]


async def test_ack_records_cursor(client: TestClient, feed_db: Database) -> None:
    response = await client.post("/hardware/ack", json={"cursor": 4}, headers=AUTH)
    assert response.status == 200
    [venue] = await venue_feed.overview(feed_db)
    assert venue.acked_cursor == 4


async def test_ack_without_cursor_gets_400(client: TestClient) -> None:
    response = await client.post("/hardware/ack", json={"cursor": "x"}, headers=AUTH)
    assert response.status == 400


async def test_status_fault_alerts_once(client: TestClient, alerts: list[str]) -> None:
    status = {"printer": {"uri": "tcp://p", "state": "error", "last_error": "refused"}}
    for _ in range(3):
        response = await client.post("/hardware/status", json=status, headers=AUTH)
        assert response.status == 200
    assert len(alerts) == 1
    assert alerts[0].startswith("Venue main-hall: printer tcp://p is failing")


async def test_status_numeric_times_stored_as_iso(client: TestClient, feed_db: Database) -> None:
    status = {
        "printer": {"uri": "tcp://p", "state": "ok", "last_printed_at": 1767225600.5},
        "beacons": [{"address": "AA:BB", "last_write_at": 1767225600, "last_error_at": None}],
        "reported_at": "2026-01-01T00:00:00",
    }

    response = await client.post("/hardware/status", json=status, headers=AUTH)

    assert response.status == 200
    [venue] = await venue_feed.overview(feed_db)
    assert venue.printer is not None
    assert venue.printer["last_printed_at"] == "2026-01-01T00:00:00.500000Z"
    assert venue.beacons[0]["last_write_at"] == "2026-01-01T00:00:00Z"
    assert venue.beacons[0]["last_error_at"] is None


@pytest.mark.parametrize(
    ("status", "field"),
    [
        ({"printer": {"last_printed_at": "yesterday"}}, "printer.last_printed_at"),
        ({"printer": {"last_error_at": [1]}}, "printer.last_error_at"),
        ({"beacons": [{"last_write_at": {"at": 1}}]}, "beacons.0.last_write_at"),
        ({"beacons": [{"last_error_at": "soon"}]}, "beacons.0.last_error_at"),
        ({"reported_at": True}, "reported_at"),
        ({"printer": "tcp://p"}, "printer"),
    ],
)
async def test_status_bad_field_gets_400(
    client: TestClient, feed_db: Database, status: dict[str, object], field: str
) -> None:
    response = await client.post("/hardware/status", json=status, headers=AUTH)

    assert response.status == 400
    error = (await response.json())["error"]
    assert f"status field {field} is invalid" in error
    assert await venue_feed.overview(feed_db) == []


async def test_printed_marks_each_job_once(client: TestClient, feed_db: Database) -> None:
    async with feed_db.transaction() as session:
        event = Event(title="Night")
        session.add(event)
        await session.flush()
        job = PrintJob(event_id=event.id, kind="receipt", payload={})
        session.add(job)
        await session.flush()
        job_id = job.id
    first = await client.post("/hardware/printed", json={"print_job_ids": [job_id]}, headers=AUTH)
    second = await client.post("/hardware/printed", json={"print_job_ids": [job_id]}, headers=AUTH)
    assert (await first.json())["printed"] == [job_id]
    assert (await second.json())["printed"] == []


async def test_shutdown_releases_long_poll(feed_db: Database, settings: Settings) -> None:
    app = web.Application()
    setup_feed_routes(app, feed_db, settings)
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    poll = asyncio.create_task(test_client.get("/hardware/feed?timeout=40", headers=AUTH))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await test_client.close()
    await asyncio.gather(poll, return_exceptions=True)
    assert time.monotonic() - started < 5.0
