"""PostgreSQL stopped for 10 s in the middle of a broadcast: sending resumes, nothing is lost."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import pytest
from sqlalchemy import insert, text

from bot.db.engine import create_database
from bot.db.models import Attendee
from bot.rehearsal.stage import Stage
from bot.services import announcements, events
from bot.services.events import EventFields
from tests.bot.delivery.private_postgres import PrivateCluster, missing_parts
from tests.figures import record

RECIPIENTS = 500
SEND_CONCURRENCY = 8
OUTAGE_S = 10.0
RESUME_WITHIN_S = 5.0
STOP_AFTER_SENDS = 150
TEXT = "Announcement across a database restart"
FIRST_GUEST = 7_100_000_000


@pytest.fixture
def private_cluster():
    missing = missing_parts()
    if missing:
        reason = f"a private PostgreSQL cluster is needed for the restart test: {missing}"
        if os.environ.get("MICROPOP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (MICROPOP_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    cluster = PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


async def create_micropop_database(cluster: PrivateCluster) -> str:
    admin = create_database(cluster.url(), pool_size=1)
    async with admin.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("CREATE DATABASE micropop"))
    await admin.dispose()
    return cluster.url("micropop")


async def add_guests(stage: Stage) -> list[int]:
    event = await events.create_event(stage.bot.db, EventFields(title="Restart night"))
    guests = list(range(FIRST_GUEST, FIRST_GUEST + RECIPIENTS))
    rows = [
        {"event_id": event.id, "telegram_user_id": guest, "chat_id": guest, "language": "en"}
        for guest in guests
    ]
    async with stage.bot.db.transaction() as session:
        await session.execute(insert(Attendee), rows)
    for guest in guests:
        stage.emulator.user(guest, "Guest")
    return guests


def sends(stage: Stage) -> list:
    return [
        call
        for call in stage.emulator.calls_to("sendMessage")
        if call.ok and call.params.get("text") == TEXT
    ]


async def test_postgres_restart_mid_broadcast_loses_nothing(private_cluster):
    database_url = await create_micropop_database(private_cluster)
    async with Stage(database_url, send_concurrency=SEND_CONCURRENCY) as stage:
        guests = await add_guests(stage)
        await announcements.create(stage.bot.db, stage.bot.scheduler, text=TEXT, created_by="t")
        await stage.emulator.wait_for(lambda: len(sends(stage)) >= STOP_AFTER_SENDS, timeout=60)

        await asyncio.to_thread(private_cluster.stop)
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(private_cluster.start)
        back_at = time.monotonic()
        await stage.emulator.wait_for(
            lambda: len({call.chat_id for call in sends(stage)}) == RECIPIENTS, timeout=120
        )

    copies = Counter(call.chat_id for call in sends(stage))
    resumed_after = min(call.at for call in sends(stage) if call.at > back_at) - back_at
    missing = [guest for guest in guests if copies[guest] == 0]
    duplicates = sum(count - 1 for count in copies.values())
    record(
        "postgres-restart",
        recipients=RECIPIENTS,
        outage_s=OUTAGE_S,
        resumed_after_s=round(resumed_after, 2),
        missing=len(missing),
        duplicates=duplicates,
    )
    assert missing == []
    assert duplicates <= SEND_CONCURRENCY
    assert resumed_after <= RESUME_WITHIN_S
