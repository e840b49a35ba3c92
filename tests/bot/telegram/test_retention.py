"""Ephemeral claim codes and countdowns: registered when sent, deleted from the chat when due."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.db.models import EphemeralMessage
from bot.db.types import utcnow
from bot.emulator import FaultKind
from bot.rehearsal.stage import Stage
from bot.scheduling import jobs
from bot.services import ephemeral
from bot.telegram.retention import Deletions, delete_due
from tests.bot.telegram.stage_helpers import claim, live_drop

ADA = 7_000_000_301


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
