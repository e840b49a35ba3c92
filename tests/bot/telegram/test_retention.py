"""Ephemeral claim codes and countdowns: registered when sent, deleted from the chat when due.

Also the periodic retention job's purge of personal data after each event, with its setting.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import func, select

from bot.db.models import EphemeralMessage
from bot.db.types import utcnow
from bot.emulator import FaultKind
from bot.rehearsal.stage import Stage
from bot.scheduling import jobs
from bot.services import attendees, ephemeral, events
from bot.services.attendees import Arrival
from bot.services.events import EventFields
from bot.settings import Settings
from bot.telegram.retention import RETENTION_INTERVAL_S, Deletions, delete_due
from tests.bot.privacy_traces import personal_traces
from tests.bot.telegram.stage_helpers import claim, live_drop
from tests.figures import record

ADA = 7_000_000_301
ZORA = 7_000_000_302
# The maximum time to live the settings accept.
MAX_TTL = timedelta(seconds=Settings.model_fields["ephemeral_ttl_s"].metadata[-1].le)


async def ephemeral_rows(stage) -> list[EphemeralMessage]:
    async with stage.bot.db.transaction() as session:
        return list(await session.scalars(select(EphemeralMessage).order_by(EphemeralMessage.id)))


async def claim_registered(stage, user, drop_id: int) -> dict:
    """Claim, then wait until the card and the receipt are registered after their sends."""
    receipt = await claim(stage, user, drop_id)
    for _ in range(100):
        if len(await ephemeral_rows(stage)) == 2:
            break
        await asyncio.sleep(0.05)
    return receipt


async def test_claim_messages_are_ephemeral(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(ADA, "Ada")

    receipt = await claim_registered(stage, ada, drop.id)

    rows = await ephemeral_rows(stage)
    assert [row.kind for row in rows] == ["drop_card", "receipt"]
    assert rows[1].message_id == receipt["message_id"]
    assert {row.chat_id for row in rows} == {ADA}


async def test_ephemeral_deadline_follows_ttl_setting(tmp_path):
    async with Stage.on_sqlite(tmp_path, ephemeral_ttl_s=3600) as stage:
        drop = await live_drop(stage)
        ada = stage.emulator.user(ADA, "Ada")

        await claim_registered(stage, ada, drop.id)
        rows = await ephemeral_rows(stage)

    for row in rows:
        assert row.delete_after - row.sent_at == timedelta(hours=1)


async def test_due_messages_deleted_by_periodic_job(tmp_path):
    async with Stage.on_sqlite(tmp_path, ephemeral_ttl_s=1) as stage:
        drop = await live_drop(stage)
        ada = stage.emulator.user(ADA, "Ada")
        receipt = await claim_registered(stage, ada, drop.id)
        ephemeral_ids = {row.message_id for row in await ephemeral_rows(stage)}
        shown = {m["message_id"] for m in stage.emulator.messages(ADA)}
        await asyncio.sleep(1.1)

        await jobs.run_periodic(stage.bot.scheduler.key, "retention")
        after = {m["message_id"] for m in stage.emulator.messages(ADA)}

        assert receipt["message_id"] in ephemeral_ids
        assert after == shown - ephemeral_ids
        assert await ephemeral_rows(stage) == []


async def test_messages_kept_until_due(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(ADA, "Ada")
    await claim_registered(stage, ada, drop.id)

    deletions = await delete_due(stage.bot.bot, stage.bot.db)

    assert deletions == Deletions()
    assert len(await ephemeral_rows(stage)) == 2


async def test_retention_job_registered(stage):
    assert "periodic:retention" in await stage.bot.scheduler.job_ids()


async def test_message_deleted_by_user_is_settled(stage):
    ada = stage.emulator.user(ADA, "Ada")
    await ephemeral.register(
        stage.bot.db, ADA, 999, kind="receipt", ttl=timedelta(seconds=1), now=utcnow()
    )

    deletions = await delete_due(stage.bot.bot, stage.bot.db, now=utcnow() + timedelta(seconds=2))

    assert ada.id == ADA
    assert deletions.skipped == 1
    assert await ephemeral_rows(stage) == []


async def test_failed_deletion_retried_next_run(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(ADA, "Ada")
    await claim_registered(stage, ada, drop.id)
    stage.emulator.faults.add(FaultKind.SERVER_ERROR, "deleteMessage", count=2)
    later = utcnow() + timedelta(days=1)

    first = await delete_due(stage.bot.bot, stage.bot.db, now=later)
    second = await delete_due(stage.bot.bot, stage.bot.db, now=later + timedelta(minutes=1))

    assert first.postponed == 2
    assert second.deleted == 2
    assert await ephemeral_rows(stage) == []


async def test_message_past_deletion_window_dropped_without_call(stage):
    sent_at = utcnow() - timedelta(hours=49)
    await ephemeral.register(
        stage.bot.db, ADA, 5, kind="receipt", ttl=timedelta(hours=47), now=sent_at
    )

    deletions = await delete_due(stage.bot.bot, stage.bot.db)

    assert deletions.skipped == 1
    assert stage.emulator.calls_to("deleteMessage") == []


def test_deadline_stays_inside_telegram_window():
    sent_at = utcnow()

    deadline = ephemeral.delete_at(sent_at, timedelta(days=5))

    assert deadline - sent_at < ephemeral.DELETE_WINDOW


async def test_ephemeral_rows_unique_per_message(stage):
    for _ in range(2):
        await ephemeral.register(stage.bot.db, ADA, 5, kind="receipt", ttl=timedelta(hours=1))

    async with stage.bot.db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(EphemeralMessage))
    assert count == 1


async def test_due_messages_deleted_by_scheduler_in_time(tmp_path):
    ttl_s = 1
    async with Stage.on_sqlite(tmp_path, ephemeral_ttl_s=ttl_s) as stage:
        drop = await live_drop(stage)
        ada = stage.emulator.user(ADA, "Ada")
        receipt = await claim_registered(stage, ada, drop.id)
        sent = [call for call in stage.emulator.calls_to("sendPhoto") if call.ok]
        ephemeral_ids = {row.message_id for row in await ephemeral_rows(stage)}

        # No manual run: the service's own periodic job has to delete them.
        await stage.emulator.wait_for(
            lambda: not ephemeral_ids & {m["message_id"] for m in stage.emulator.messages(ADA)},
            timeout=RETENTION_INTERVAL_S + 15,
        )
        deleted = [call for call in stage.emulator.calls_to("deleteMessage") if call.ok]
        # The job deletes each row right after its deleteMessage call returns.
        for _ in range(50):
            leftovers = await ephemeral_rows(stage)
            if not leftovers:
                break
            await asyncio.sleep(0.1)

    late_by = max(call.at for call in deleted) - (sent[-1].at + ttl_s)
    assert receipt["message_id"] in ephemeral_ids
    record(
        "ephemeral-deletion",
        ttl_s=ttl_s,
        interval_s=RETENTION_INTERVAL_S,
        late_by_s=round(late_by, 2),
        leftover_rows=len(leftovers),
    )
    assert late_by <= RETENTION_INTERVAL_S + 5
    assert leftovers == []


def test_ttl_setting_stops_short_of_deletion_window():
    base = {"bot_token": "123456:secret-token-value", "organiser_chat_id": -100123}

    with pytest.raises(ValidationError):
        Settings(**base, ephemeral_ttl_s=48 * 3600, _env_file=None)
    accepted = Settings(**base, ephemeral_ttl_s=47 * 3600, _env_file=None)

    assert MAX_TTL == timedelta(hours=47)
    assert accepted.ephemeral_ttl_s == 47 * 3600


@given(
    sent_at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1)),
    ttl=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30)),
)
def test_deadline_plus_interval_inside_window(sent_at, ttl):
    deadline = ephemeral.delete_at(sent_at, ttl)

    # The job runs every RETENTION_INTERVAL_S, so deletion happens by then.
    latest_run = deadline + timedelta(seconds=RETENTION_INTERVAL_S)
    assert deadline - sent_at <= min(ttl, MAX_TTL)
    assert latest_run < sent_at + ephemeral.DELETE_WINDOW


async def test_message_at_longest_ttl_deleted_inside_window(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(ADA, "Ada")
    receipt = await claim(stage, ada, drop.id)
    sent_at = utcnow() - MAX_TTL
    await ephemeral.register(
        stage.bot.db, ADA, receipt["message_id"], kind="receipt", ttl=MAX_TTL, now=sent_at
    )
    now = utcnow() + timedelta(seconds=RETENTION_INTERVAL_S)

    deletions = await delete_due(stage.bot.bot, stage.bot.db, now=now)

    assert deletions.deleted >= 1
    assert now - sent_at < ephemeral.DELETE_WINDOW
    assert receipt["message_id"] not in {m["message_id"] for m in stage.emulator.messages(ADA)}


async def test_failing_deletion_retried_until_window_closes(stage):
    sent_at = utcnow() - MAX_TTL
    await ephemeral.register(stage.bot.db, ADA, 5, kind="receipt", ttl=MAX_TTL, now=sent_at)
    stage.emulator.faults.add(FaultKind.SERVER_ERROR, "deleteMessage", count=None)

    inside = await delete_due(stage.bot.bot, stage.bot.db, now=utcnow())
    calls_inside = len(stage.emulator.calls_to("deleteMessage"))
    closed = await delete_due(
        stage.bot.bot, stage.bot.db, now=sent_at + ephemeral.DELETE_WINDOW + timedelta(seconds=1)
    )

    assert inside.postponed == 1
    assert calls_inside == 1
    assert closed.skipped == 1
    assert len(stage.emulator.calls_to("deleteMessage")) == calls_inside
    assert await ephemeral_rows(stage) == []


async def past_event(stage: Stage, ended_days_ago: int) -> None:
    """An event that ended `ended_days_ago` days ago, with Zora registered."""
    ended = utcnow() - timedelta(days=ended_days_ago)
    fields = EventFields(title="Old night", starts_at=ended - timedelta(hours=4), ends_at=ended)
    event = await events.create_event(stage.bot.db, fields)
    arrival = Arrival(ZORA, ZORA, "Zora Quintessa", "zoraq", "en", "qr")
    await attendees.register(stage.bot.db, event.id, arrival)


async def zora_traces(stage: Stage) -> list[str]:
    return await personal_traces(stage.bot.db, numbers=[ZORA], words=["Zora Quintessa", "zoraq"])


def test_purge_default_is_thirty_days():
    settings = Settings(bot_token="123456:secret-token-value", _env_file=None)

    assert settings.purge_after_days == 30


@pytest.mark.parametrize(
    ("setting", "ended_days_ago", "purged"),
    [(None, 29, False), (None, 31, True), (7, 6, False), (7, 8, True)],
)
async def test_retention_job_purges_after_setting(tmp_path, setting, ended_days_ago, purged):
    overrides = {} if setting is None else {"purge_after_days": setting}
    async with Stage.on_sqlite(tmp_path, **overrides) as stage:
        await past_event(stage, ended_days_ago)

        await jobs.run_periodic(stage.bot.scheduler.key, "retention")
        leftovers = await zora_traces(stage)

    record(
        "privacy-purge-job",
        after_days=setting or 30,
        ended_days_ago=ended_days_ago,
        leftovers=len(leftovers),
    )
    assert (leftovers == []) is purged
