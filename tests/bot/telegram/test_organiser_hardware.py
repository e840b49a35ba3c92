"""Organiser console, venue hardware: /hardware, /reprint and /poster."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select, update

from bot import links
from bot.db.models import Drop, HardwareEvent, PrintJob
from bot.db.types import utcnow
from bot.rehearsal.stage import Stage
from bot.services import announcements, drops, events, venue_feed
from bot.services.events import EventFields

sys.path.insert(0, str(Path(__file__).parent))
from console_helpers import FAST_RATES, audit_entries, console, say, shown  # noqa: E402, F401

VENUE_TOKEN = "main-hall-token-0123456789"


async def publish_slip(stage) -> int:
    await events.create_event(stage.bot.db, EventFields(title="Hardware night"))
    view = await announcements.create(
        stage.bot.db, stage.bot.scheduler, text="Doors open", created_by="test"
    )
    for _ in range(100):
        async with stage.bot.db.transaction(readonly=True) as session:
            job = await session.scalar(
                select(PrintJob.id).where(PrintJob.announcement_id == view.id)
            )
        if job:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("no print job for the announcement")


async def test_hardware_lists_venues_and_jobs(console):
    job = await publish_slip(console)
    await venue_feed.record_status(
        console.bot.db,
        "main-hall",
        {
            "printer": {"uri": "tcp://127.0.0.1:9100", "state": "ok", "queued": 0},
            "beacons": [{"address": "AA:BB", "profile": "eddystone", "state": "ok"}],
        },
    )

    (reply,) = await say(console, "/hardware")

    assert "main-hall" in shown(reply)
    assert "Beacon AA:BB (eddystone): ok" in shown(reply)
    assert f"#{job} slip" in shown(reply)


@pytest.fixture
async def venue_console(tmp_path: Path) -> AsyncIterator[Stage]:
    """The console stage with the main-hall venue token, for status reports over HTTP."""
    async with Stage.on_sqlite(
        tmp_path, venue_tokens=f"main-hall:{VENUE_TOKEN}", **FAST_RATES
    ) as stage:
        await events.create_event(
            stage.bot.db, EventFields(title="Night Market", time_zone="Europe/Berlin")
        )
        yield stage


async def post_status(stage: Stage, status: dict[str, object]) -> int:
    url = f"http://127.0.0.1:{stage.bot.web_port}/hardware/status"
    headers = {"Authorization": f"Bearer {VENUE_TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=status, headers=headers) as response:
            return response.status


async def test_hardware_after_numeric_print_time(venue_console):
    printed = datetime(2026, 5, 1, 19, 30, 5, tzinfo=UTC)
    # Daemons before ISO status reports sent Unix seconds from time.time().
    status = {
        "printer": {
            "uri": "preview:///tmp/x/prints",
            "state": "ok",
            "queued": 0,
            "last_printed_at": printed.timestamp(),
            "last_error_at": None,
        },
        "beacons": [],
        "problems": [],
        "reported_at": printed.timestamp(),
    }
    assert await post_status(venue_console, status) == 200

    first, second = [(await say(venue_console, "/hardware"))[0] for _ in range(2)]

    assert "last printed 21:30:05" in shown(first)
    assert "last printed 21:30:05" in shown(second)
    hardware = [e for e in await audit_entries(venue_console) if e.action == "hardware"]
    assert "failed" not in [entry.result for entry in hardware]


async def test_hardware_shows_unreadable_stored_times(venue_console):
    # Rows stored before status reports were checked may hold any JSON value.
    for printed in (1777663805.0, {"at": 1}, [1], True):
        printer = {"uri": "tcp://127.0.0.1:9100", "state": "ok", "last_printed_at": printed}
        await venue_feed.record_status(venue_console.bot.db, "main-hall", {"printer": printer})

        (reply,) = await say(venue_console, "/hardware")

        assert "Printer tcp://127.0.0.1:9100: ok" in shown(reply)


async def test_reprint_queues_copy_and_feed_event(console):
    job = await publish_slip(console)

    (reply,) = await say(console, f"/reprint {job}")

    async with console.bot.db.transaction(readonly=True) as session:
        copies = await session.scalar(
            select(func.count()).select_from(PrintJob).where(PrintJob.reprint_of == job)
        )
        reprints = await session.scalar(
            select(func.count()).select_from(HardwareEvent).where(HardwareEvent.kind == "reprint")
        )
    assert f"Reprint of job #{job} queued" in shown(reply)
    assert copies == 1
    assert reprints == 1


async def test_reprint_of_unknown_job_names_value(console):
    (reply,) = await say(console, "/reprint 999999")

    assert shown(reply) == "⚠️ Print job 999999 not found: list the job ids with /hardware"


async def test_reprint_with_text_id_names_forms(console):
    (reply,) = await say(console, "/reprint abc")

    assert 'Invalid print job id "abc"' in shown(reply)


async def schedule_drop(stage, title: str = "Tote bag", hours: float = 2.0) -> int:
    """Add a drop `hours` ahead, after an event in Europe/Berlin if none exists yet."""
    db = stage.bot.db
    if await events.active_event(db) is None:
        await events.create_event(db, EventFields(title="Poster night", time_zone="Europe/Berlin"))
    drop = await drops.create_drop(
        db, title=title, starts_at=utcnow() + timedelta(hours=hours), stock=20
    )
    return drop.id


async def poster_rows(stage) -> tuple[list[PrintJob], list[HardwareEvent]]:
    async with stage.bot.db.transaction(readonly=True) as session:
        jobs = (await session.scalars(select(PrintJob).where(PrintJob.kind == "poster"))).all()
        feed = (
            await session.scalars(select(HardwareEvent).where(HardwareEvent.kind == "poster"))
        ).all()
    return list(jobs), list(feed)


async def test_poster_queues_job_and_feed_event(console):
    drop_id = await schedule_drop(console)
    drop = await drops.get_drop(console.bot.db, drop_id)
    opens = drop.starts_at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M")

    (reply,) = await say(console, f"/poster {drop_id}")

    [job], [event] = await poster_rows(console)
    assert shown(reply) == (
        f"Countdown poster for drop #{drop_id} Tote bag (opens {opens}) queued as print job "
        f"#{job.id}."
    )
    assert job.payload["layout"] == "countdown"
    assert job.payload["title"] == "Tote bag"
    assert job.payload["event_title"] == "Poster night"
    assert job.payload["time_zone"] == "Europe/Berlin"
    assert job.payload["starts_at"] == drop.starts_at.isoformat()
    assert job.payload["start"] == links.encode(
        links.Link(links.LinkKind.DROP, drop_id, links.ArrivalSource.POSTER), ""
    )
    assert job.requested_by == f"Olga (id {console.organiser.id})"
    assert event.payload["print_job_id"] == job.id
    assert event.payload["start"] == job.payload["start"]
    [entry] = [entry for entry in await audit_entries(console) if entry.action == "poster"]
    assert entry.result == "ok"
    assert entry.actor_user_id == console.organiser.id
    assert entry.detail == f"/poster {drop_id}"


async def test_poster_of_cancelled_drop_rejected(console):
    drop_id = await schedule_drop(console)
    await drops.cancel_drop(console.bot.db, drop_id)

    (reply,) = await say(console, f"/poster {drop_id}")

    assert shown(reply) == (
        f"⚠️ Drop {drop_id} is cancelled: a poster counts down to a scheduled drop, see /listdrops"
    )
    assert await poster_rows(console) == ([], [])
    [entry] = [entry for entry in await audit_entries(console) if entry.action == "poster"]
    assert entry.result == "invalid"


async def test_poster_of_started_drop_rejected(console):
    drop_id = await schedule_drop(console)
    started = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    async with console.bot.db.transaction() as session:
        await session.execute(update(Drop).where(Drop.id == drop_id).values(starts_at=started))

    (reply,) = await say(console, f"/poster {drop_id}")

    assert shown(reply) == (
        f"⚠️ Drop {drop_id} already started at 2026-12-04 21:00 (Europe/Berlin): a poster "
        "counts down to a drop that has not started, so pick one from /listdrops"
    )
    assert await poster_rows(console) == ([], [])
    [entry] = [entry for entry in await audit_entries(console) if entry.action == "poster"]
    assert entry.result == "invalid"


@pytest.mark.parametrize(
    ("line", "expected", "result"),
    [
        (
            "/poster 999999",
            "⚠️ Drop 999999 not found: list the drop ids with /listdrops",
            "not_found",
        ),
        (
            "/poster abc",
            '⚠️ Invalid drop id "abc": use a number shown by /listdrops',
            "invalid",
        ),
        (
            "/poster 3 4",
            '⚠️ Invalid drop id "3 4": use a number shown by /listdrops',
            "invalid",
        ),
        (
            "/poster",
            "⚠️ Missing arguments: use /poster DROP_ID, e.g. /poster 3 (drop ids are listed "
            "by /listdrops)",
            "invalid",
        ),
    ],
)
async def test_poster_bad_input_names_value(console, line, expected, result):
    await schedule_drop(console)

    (reply,) = await say(console, line)

    assert shown(reply) == expected
    assert await poster_rows(console) == ([], [])
    [entry] = [entry for entry in await audit_entries(console) if entry.action == "poster"]
    assert entry.result == result


async def test_poster_can_be_reprinted(console):
    drop_id = await schedule_drop(console)
    await say(console, f"/poster {drop_id}")
    [job], _ = await poster_rows(console)

    (reply,) = await say(console, f"/reprint {job.id}")

    async with console.bot.db.transaction(readonly=True) as session:
        copy = await session.scalar(select(PrintJob).where(PrintJob.reprint_of == job.id))
        reprint = await session.scalar(
            select(HardwareEvent).where(HardwareEvent.kind == "reprint")
        )
    assert f"Reprint of job #{job.id} queued" in shown(reply)
    assert copy is not None
    assert copy.payload == job.payload
    assert reprint is not None
    assert reprint.payload["layout"] == "countdown"
