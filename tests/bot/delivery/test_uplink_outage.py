"""The Bot API unreachable across an announcement: nothing lost, late copies marked."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import insert

from bot.db.models import Attendee
from bot.db.types import utcnow
from bot.delivery import sender
from bot.emulator import RateLimits
from bot.rehearsal.stage import Stage
from bot.services import announcements, events
from bot.services.events import EventFields
from tests.figures import record

TEXT = "Doors open at the back entrance"
LATE_MARK = "Delayed announcement:\n"
FIRST_GUEST = 7_300_000_000
OUTAGE_S = 300.0
# Telegram's overall broadcast limit, which the emulator enforces with 429s.
GLOBAL_PER_S = 30.0


async def seat_guests(stage: Stage, count: int) -> list[int]:
    event = await events.create_event(stage.bot.db, EventFields(title="Outage night"))
    guests = list(range(FIRST_GUEST, FIRST_GUEST + count))
    rows = [
        {"event_id": event.id, "telegram_user_id": guest, "chat_id": guest, "language": "en"}
        for guest in guests
    ]
    async with stage.bot.db.transaction() as session:
        await session.execute(insert(Attendee), rows)
    for guest in guests:
        stage.emulator.user(guest, "Guest")
    return guests


def copies(stage: Stage) -> list:
    return [
        call
        for call in stage.emulator.calls_to("sendMessage")
        if call.ok and TEXT in call.params.get("text", "")
    ]


async def wait_all_received(stage: Stage, guests: list[int], timeout: float) -> None:
    await stage.emulator.wait_for(
        lambda: len({call.chat_id for call in copies(stage)}) == len(guests), timeout=timeout
    )


async def test_copies_held_up_by_outage_carry_late_mark(tmp_path, monkeypatch):
    monkeypatch.setattr(sender, "LATE_AFTER", timedelta(seconds=2))
    async with Stage.on_sqlite(tmp_path, limits=RateLimits()) as stage:
        guests = await seat_guests(stage, 20)
        await stage.cut_uplink()
        await announcements.create(stage.bot.db, stage.bot.scheduler, text=TEXT, created_by="t")
        await asyncio.sleep(5)

        await stage.restore_uplink()
        await wait_all_received(stage, guests, timeout=60)

    texts = {call.params["text"] for call in copies(stage)}
    assert texts == {LATE_MARK + TEXT}


async def test_copies_sent_on_time_have_no_mark(tmp_path):
    async with Stage.on_sqlite(tmp_path, limits=RateLimits()) as stage:
        guests = await seat_guests(stage, 5)

        await announcements.create(stage.bot.db, stage.bot.scheduler, text=TEXT, created_by="t")
        await wait_all_received(stage, guests, timeout=30)

    assert {call.params["text"] for call in copies(stage)} == {TEXT}


@pytest.mark.long
@pytest.mark.timeout(OUTAGE_S + 240)
async def test_five_minute_outage_across_scheduled_announcement(tmp_path):
    async with Stage.on_sqlite(tmp_path, limits=RateLimits()) as stage:
        guests = await seat_guests(stage, 300)
        await stage.cut_uplink()
        cut_at = time.monotonic()
        await announcements.create(
            stage.bot.db,
            stage.bot.scheduler,
            text=TEXT,
            created_by="t",
            scheduled_for=utcnow() + timedelta(seconds=30),
        )
        await asyncio.sleep(OUTAGE_S - (time.monotonic() - cut_at))

        await stage.restore_uplink()
        back_at = time.monotonic()
        await wait_all_received(stage, guests, timeout=120)
        await asyncio.sleep(2)
        flood_replies = stage.emulator.stats.http_429

    sent = copies(stage)
    per_chat = Counter(call.chat_id for call in sent)
    first, last = min(call.at for call in sent), max(call.at for call in sent)
    drain_s = last - first
    missing = [guest for guest in guests if per_chat[guest] == 0]
    record(
        "uplink-outage",
        recipients=len(guests),
        outage_s=OUTAGE_S,
        missing=len(missing),
        late_marked=sum(call.params["text"] == LATE_MARK + TEXT for call in sent),
        first_send_after_restore_s=round(first - back_at, 2),
        drained_after_restore_s=round(last - back_at, 2),
        drain_rate_per_s=round((len(sent) - 1) / drain_s, 1),
        limit_per_s=GLOBAL_PER_S,
        http_429=flood_replies,
        duplicates=sum(count - 1 for count in per_chat.values()),
    )
    assert missing == []
    assert {call.params["text"] for call in sent} == {LATE_MARK + TEXT}
    assert flood_replies == 0
    assert (len(sent) - 1) / drain_s <= GLOBAL_PER_S
    assert last - back_at <= len(guests) / GLOBAL_PER_S + 20
