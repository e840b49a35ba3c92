"""Organiser console, venue hardware: /hardware and /reprint."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy import func, select

from bot.db.models import HardwareEvent, PrintJob
from bot.services import announcements, events, venue_feed
from bot.services.events import EventFields

sys.path.insert(0, str(Path(__file__).parent))
from console_helpers import console, say, shown  # noqa: E402, F401


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

    assert "999999" in shown(reply)


async def test_reprint_with_text_id_names_forms(console):
    (reply,) = await say(console, "/reprint abc")

    assert 'Invalid print job id "abc"' in shown(reply)
