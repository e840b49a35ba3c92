"""Tests of the wait after close: what counts as settled, and when the wait is measured from."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from bot.db.engine import Database
from bot.db.models import Announcement, AnnouncementStatus, Event
from bot.rehearsal import night
from bot.rehearsal.clock import NightClock
from bot.rehearsal.night import settle
from bot.rehearsal.script import tempo
from bot.rehearsal.timeline import Timeline

NO_BEACONS = SimpleNamespace(beacon_records=lambda: [])


async def add_announcement(db: Database, status: AnnouncementStatus) -> None:
    async with db.transaction() as session:
        event = Event(title="Night Market")
        session.add(event)
        await session.flush()
        session.add(Announcement(event_id=event.id, text="Last call", status=status))


def started_timeline() -> Timeline:
    clock = NightClock(900, tempo(1))
    clock.start()
    return Timeline(clock)


async def test_settle_time_counts_from_close(sqlite_db: Database) -> None:
    closed_at = time.monotonic() - 30.0

    settled = await settle(sqlite_db, NO_BEACONS, started_timeline(), closed_at)

    assert settled.waiting == []
    assert settled.seconds >= 30.0


async def test_settle_waits_for_done_mark(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_announcement(sqlite_db, AnnouncementStatus.SENDING)
    monkeypatch.setattr(night, "DONE_MARK_WAIT_S", 0.5)
    timeline = started_timeline()

    settled = await settle(sqlite_db, NO_BEACONS, timeline, time.monotonic())

    assert settled.waiting == []
    assert "1 announcement with every delivery settled" in timeline.entries[-1].text


async def test_settle_ignores_finished_announcement(sqlite_db: Database) -> None:
    await add_announcement(sqlite_db, AnnouncementStatus.DONE)

    settled = await settle(sqlite_db, NO_BEACONS, started_timeline(), time.monotonic())

    assert settled.waiting == []
