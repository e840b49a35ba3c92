"""Organiser drop commands end to end: create, edit, list and cancel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.db.models import HardwareEvent, PrintJob
from bot.db.types import utcnow
from bot.rehearsal.stage import Stage
from bot.services import announcements, drops, events
from tests.bot.telegram import console_helpers
from tests.bot.telegram.console_helpers import (
    audit_entries,
    bot_messages,
    handled,
    one_reply,
    shown,
)

console = console_helpers.console


@pytest.fixture
async def night(console):
    await one_reply(console, "/event Spring night")
    await one_reply(console, "/tz Europe/Berlin")
    return console


async def drop_list(stage):
    event = await events.active_event(stage.bot.db)
    return await drops.list_drops(stage.bot.db, event.id)


async def test_drop_created_with_reminders(night):
    reply = await one_reply(night, "/drop Tote <bag> | +2h | 50 | 2 | Canvas, screen-printed")

    (drop,) = await drop_list(night)
    assert (drop.title, drop.stock, drop.per_person_limit) == ("Tote <bag>", 50, 2)
    assert drop.description == "Canvas, screen-printed"
    assert abs((drop.starts_at - utcnow()).total_seconds() - 7200) < 60
    assert reply.startswith("Drop created.\n#1 Tote <bag> at ")
    reminders = [view for view in await announcements.queue(night.bot.db) if view.drop_id]
    assert len(reminders) == 4


async def test_drop_start_in_event_zone(night):
    await one_reply(night, "/drop Poster | 2027-01-15 21:00 | 10 | 1")

    (drop,) = await drop_list(night)
    assert drop.starts_at == datetime(2027, 1, 15, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "/drop Tote bag | +1h | -1 | 1",
            '⚠️ Invalid stock "-1": use a whole number from 1 to 100000, e.g. 50',
        ),
        (
            "/drop Tote bag | +1h | ten | 1",
            '⚠️ Invalid stock "ten": use a whole number from 1 to 100000, e.g. 50',
        ),
        (
            "/drop Tote bag | +1h | 10 | 0",
            '⚠️ Invalid per-person limit "0": use a whole number from 1 to 100, e.g. 1',
        ),
        (
            "/drop Tote bag | 25:70 | 10 | 1",
            '⚠️ Invalid time "25:70": use HH:MM, +15m or YYYY-MM-DD HH:MM in the event\'s '
            "time zone (Europe/Berlin).",
        ),
    ],
)
async def test_drop_bad_value_named(night, line, expected):
    reply = await one_reply(night, line)

    assert reply == expected
    assert await drop_list(night) == []


async def test_drop_missing_parts_shows_usage(night):
    reply = await one_reply(night, "/drop Tote bag | +1h")

    assert reply == (
        "⚠️ Invalid arguments: got 2 parts separated by |, use /drop TITLE | START | STOCK | "
        "LIMIT [| DESCRIPTION], e.g. /drop Tote bag | 21:00 | 50 | 1"
    )


async def test_drop_without_arguments_shows_usage(night):
    reply = await one_reply(night, "/drop")

    assert reply.startswith("⚠️ Missing arguments: use /drop TITLE | START | STOCK | LIMIT")


async def test_edit_drop_stock(night):
    await one_reply(night, "/drop Tote bag | +1h | 50 | 1")

    reply = await one_reply(night, "/editdrop 1 stock 80")

    (drop,) = await drop_list(night)
    assert (drop.stock, drop.remaining) == (80, 80)
    assert reply.startswith("Drop updated.")


async def test_edit_drop_start_reschedules(night):
    await one_reply(night, "/drop Tote bag | +1h | 50 | 1")

    await one_reply(night, "/editdrop 1 start 2027-01-15 21:00")

    (drop,) = await drop_list(night)
    assert drop.starts_at == datetime(2027, 1, 15, 20, 0, tzinfo=UTC)


async def test_edit_drop_waitlist_switch(night):
    await one_reply(night, "/drop Tote bag | +1h | 50 | 1")

    await one_reply(night, "/editdrop 1 waitlist on")

    (drop,) = await drop_list(night)
    assert drop.waitlist


async def test_edit_drop_unknown_field(night):
    await one_reply(night, "/drop Tote bag | +1h | 50 | 1")

    reply = await one_reply(night, "/editdrop 1 colour red")

    assert reply == (
        '⚠️ Unknown drop field "colour": use one of title, description, start, stock, limit, '
        "hold, waitlist"
    )


async def test_edit_unknown_drop_not_found(night):
    reply = await one_reply(night, "/editdrop 99 stock 5")

    assert reply.startswith("⚠️ Drop 99 not found")


async def test_list_drops(night):
    await one_reply(night, "/drop Tote bag | 2027-01-15 21:00 | 50 | 1")
    await one_reply(night, "/drop Poster | 2027-01-15 22:00 | 10 | 2")

    reply = await one_reply(night, "/listdrops")

    assert reply == (
        "Drops\n"
        "#1 Tote bag at 2027-01-15 21:00: 50 of 50 left, 1 per person\n"
        "#2 Poster at 2027-01-15 22:00: 10 of 10 left, 2 per person"
    )


async def test_cancel_drop(night):
    await one_reply(night, "/drop Tote bag | +1h | 50 | 1")

    reply = await one_reply(night, "/canceldrop 1")

    (drop,) = await drop_list(night)
    assert drop.cancelled
    assert reply.endswith("(cancelled)")
    assert [view for view in await announcements.queue(night.bot.db) if view.drop_id] == []


async def test_cancel_drop_twice_changes_nothing(night):
    await one_reply(night, "/drop Tote bag | +1h | 50 | 1")
    await one_reply(night, "/canceldrop 1")

    update_id = night.emulator.send_text(night.organiser, "/canceldrop 1", chat=night.organisers)
    await handled(night, update_id)

    reply = shown(bot_messages(night, night.organisers.id)[-1])
    entry = (await audit_entries(night))[0]
    (drop,) = await drop_list(night)
    assert reply.startswith("Drop #1 was already cancelled, so nothing changed.")
    assert drop.cancelled
    assert entry.action == "canceldrop"
    assert entry.result == "unchanged"
    assert entry.detail.endswith("-> already cancelled")


async def test_cancel_drop_id_must_be_number(night):
    reply = await one_reply(night, "/canceldrop tote")

    assert reply == '⚠️ Invalid drop id "tote": use a number shown by /listdrops'


async def print_jobs(stage) -> list[PrintJob]:
    async with stage.bot.db.transaction(readonly=True) as session:
        return list((await session.scalars(select(PrintJob))).all())


async def test_drop_queues_no_poster_by_default(night):
    reply = await one_reply(night, "/drop Tote bag | +1h | 50 | 1")

    assert "poster" not in reply
    assert await print_jobs(night) == []


async def test_drop_queues_poster_when_enabled(tmp_path):
    settings = {**console_helpers.FAST_RATES, "poster_on_drop": True}
    async with Stage.on_sqlite(tmp_path, **settings) as stage:
        await one_reply(stage, "/event Spring night")

        reply = await one_reply(stage, "/drop Tote bag | +1h | 50 | 1")

        (drop,) = await drop_list(stage)
        [job] = await print_jobs(stage)
        async with stage.bot.db.transaction(readonly=True) as session:
            feed = (await session.scalars(select(HardwareEvent))).all()
    assert reply.endswith("A countdown poster is queued for the venue printer (see /hardware).")
    assert job.kind == "poster"
    assert job.payload["drop_id"] == drop.id
    assert job.payload["starts_at"] == drop.starts_at.isoformat()
    assert job.requested_by == f"Olga (id {stage.organiser.id})"
    assert [(event.kind, event.payload["print_job_id"]) for event in feed] == [("poster", job.id)]
