"""Tests of the venue feed service: publish, cursor, acks, printed jobs and status alerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.engine import Database, create_database
from bot.db.models import Base, Event, HardwareEvent, PrintJob, PrintStatus, ShortLink
from bot.errors import InputError
from bot.services import venue_feed


@pytest.fixture
async def feed_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'feed.sqlite3'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


async def publish(db: Database, kind: str, payload: dict[str, object]) -> int:
    async with db.transaction() as session:
        return await venue_feed.publish(session, kind, payload)


async def add_print_job(
    db: Database, kind: str = "receipt", payload: dict[str, object] | None = None
) -> int:
    if payload is None:
        payload = {"item": "Tote", "link": "https://t.me/bot?start=rc1"}
    async with db.transaction() as session:
        event = Event(title="Night Market")
        session.add(event)
        await session.flush()
        job = PrintJob(event_id=event.id, kind=kind, payload=payload)
        session.add(job)
        await session.flush()
        return job.id


PRINTER_DOWN = {
    "printer": {
        "uri": "tcp://printer:9100",
        "state": "error",
        "last_error": "refused",
        "queued": 2,
    },
    "beacons": [],
}
PRINTER_OK = {"printer": {"uri": "tcp://printer:9100", "state": "ok", "queued": 0}, "beacons": []}


async def test_events_come_back_in_order(feed_db: Database) -> None:
    first = await publish(feed_db, "announcement", {"text": "one"})
    second = await publish(feed_db, "receipt", {"item": "Tote"})
    events = await venue_feed.events_after(feed_db, 0)
    assert [event.id for event in events] == [first, second]
    assert [event.kind for event in events] == ["announcement", "receipt"]


async def test_cursor_skips_seen_events(feed_db: Database) -> None:
    first = await publish(feed_db, "announcement", {"text": "one"})
    second = await publish(feed_db, "announcement", {"text": "two"})
    events = await venue_feed.events_after(feed_db, first)
    assert [event.id for event in events] == [second]


async def test_limit_caps_the_batch(feed_db: Database) -> None:
    for number in range(5):
        await publish(feed_db, "announcement", {"text": str(number)})
    assert len(await venue_feed.events_after(feed_db, 0, limit=2)) == 2


async def test_unknown_kind_is_rejected(feed_db: Database) -> None:
    with pytest.raises(InputError, match="announcement, drop_live, poster, receipt, reprint"):
        await publish(feed_db, "confetti", {})


async def test_start_payload_gets_short_code(feed_db: Database) -> None:
    await publish(feed_db, "announcement", {"text": "hi", "start": "e1-bc"})
    [event] = await venue_feed.events_after(feed_db, 0)
    async with feed_db.sessions() as session:
        stored = await session.scalar(
            select(ShortLink.payload).where(ShortLink.code == event.payload["short_code"])
        )
    assert stored == "e1-bc"


async def test_old_field_names_are_renamed(feed_db: Database) -> None:
    await publish(feed_db, "receipt", {"event": "Night Market", "link": "https://t.me/b?start=r1"})
    [event] = await venue_feed.events_after(feed_db, 0)
    assert event.payload["event_title"] == "Night Market"
    assert event.payload["deep_link"] == "https://t.me/b?start=r1"


async def test_rolled_back_publish_leaves_nothing(feed_db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with feed_db.transaction() as session:
            await venue_feed.publish(session, "announcement", {"text": "never"})
            raise RuntimeError("caller failed after publishing")
    assert await venue_feed.events_after(feed_db, 0) == []


async def test_notifier_fires_after_commit(feed_db: Database) -> None:
    notifier = venue_feed.notifier_for(feed_db)
    waiter = asyncio.create_task(notifier.wait(5))
    await asyncio.sleep(0)
    async with feed_db.transaction() as session:
        await venue_feed.publish(session, "announcement", {"text": "wake"})
        await asyncio.sleep(0.05)
        assert not waiter.done()
    await asyncio.wait_for(waiter, 1)


async def test_ack_never_moves_back(feed_db: Database) -> None:
    await venue_feed.ack(feed_db, "main-hall", 7)
    await venue_feed.ack(feed_db, "main-hall", 3)
    [venue] = await venue_feed.overview(feed_db)
    assert venue.acked_cursor == 7


async def test_print_job_is_marked_printed_once(feed_db: Database) -> None:
    job_id = await add_print_job(feed_db)
    assert await venue_feed.mark_printed(feed_db, job_id) is True
    assert await venue_feed.mark_printed(feed_db, job_id) is False
    async with feed_db.sessions() as session:
        job = await session.get(PrintJob, job_id)
    assert job is not None
    assert job.status == PrintStatus.PRINTED


async def test_unknown_print_job_is_not_marked(feed_db: Database) -> None:
    assert await venue_feed.mark_printed(feed_db, 999) is False


async def test_printer_fault_alerts_once(feed_db: Database) -> None:
    first = await venue_feed.record_status(feed_db, "main-hall", PRINTER_DOWN)
    again = await venue_feed.record_status(feed_db, "main-hall", PRINTER_DOWN)
    assert len(first) == 1
    assert "printer tcp://printer:9100 is failing" in first[0]
    assert "refused" in first[0]
    assert again == []


async def test_printer_recovery_alerts_once(feed_db: Database) -> None:
    await venue_feed.record_status(feed_db, "main-hall", PRINTER_DOWN)
    recovered = await venue_feed.record_status(feed_db, "main-hall", PRINTER_OK)
    again = await venue_feed.record_status(feed_db, "main-hall", PRINTER_OK)
    assert recovered == ["Venue main-hall: printer is working again"]
    assert again == []


async def test_beacon_fault_names_address(feed_db: Database) -> None:
    status = {
        "printer": None,
        "beacons": [{"address": "AA:BB:CC:DD:EE:01", "state": "error", "last_error": "Failed"}],
    }
    [alert] = await venue_feed.record_status(feed_db, "main-hall", status)
    assert "beacon AA:BB:CC:DD:EE:01 cannot be written: Failed" in alert


async def test_overview_shows_lag_and_faults(feed_db: Database) -> None:
    for _ in range(3):
        await publish(feed_db, "announcement", {"text": "x"})
    await venue_feed.ack(feed_db, "main-hall", 1)
    await venue_feed.record_status(feed_db, "main-hall", PRINTER_DOWN)
    [venue] = await venue_feed.overview(feed_db)
    assert venue.name == "main-hall"
    assert venue.behind == 2
    assert venue.printer is not None
    assert venue.printer["state"] == "error"
    assert len(venue.faults) == 1
    assert venue.last_contact_at is not None


async def test_reprint_is_a_new_job_and_event(feed_db: Database) -> None:
    original = await add_print_job(feed_db)
    copy = await venue_feed.request_reprint(feed_db, original, requested_by="@organiser")
    async with feed_db.sessions() as session:
        job = await session.get(PrintJob, copy)
        events = (await session.scalars(select(HardwareEvent))).all()
    assert job is not None
    assert job.reprint_of == original
    assert [event.kind for event in events] == ["reprint"]
    assert events[0].payload["print_job_id"] == copy
    assert events[0].payload["layout"] == "receipt"


async def test_reprint_of_slip_prints_announcement(feed_db: Database) -> None:
    original = await add_print_job(feed_db, "slip", {"text": "Doors open", "start": "e1-bc"})
    await venue_feed.request_reprint(feed_db, original, requested_by="@organiser")
    [event] = await venue_feed.events_after(feed_db, 0)
    assert event.payload["layout"] == "announcement"
    assert event.payload["start"] == "e1-bc"


async def test_reprint_without_link_is_rejected(feed_db: Database) -> None:
    original = await add_print_job(feed_db, "slip", {"text": "Doors open"})
    with pytest.raises(InputError, match=f"print job {original} stores no link"):
        await venue_feed.request_reprint(feed_db, original, requested_by="@organiser")
    assert await venue_feed.events_after(feed_db, 0) == []


async def test_publish_many_keeps_order(db: Database) -> None:
    payloads = [{"item": f"Tote {n}", "link": f"https://t.me/bot?start=r{n}"} for n in range(5)]
    async with db.transaction() as session:
        event_ids = await venue_feed.publish_many(session, "receipt", payloads)
    events = await venue_feed.events_after(db, 0)
    assert [event.id for event in events] == event_ids
    assert event_ids == sorted(event_ids)
    assert [event.payload["item"] for event in events] == [f"Tote {n}" for n in range(5)]
    assert events[4].payload["deep_link"] == "https://t.me/bot?start=r4"
    assert {event.kind for event in events} == {"receipt"}


async def test_publish_many_notifies_once(feed_db: Database) -> None:
    notifier = venue_feed.notifier_for(feed_db)
    wakes: list[int] = []
    original = notifier.notify
    notifier.notify = lambda: (wakes.append(1), original())[1]  # type: ignore[method-assign]
    async with feed_db.transaction() as session:
        await venue_feed.publish_many(session, "receipt", [{"item": "a"}, {"item": "b"}])
    assert len(wakes) == 1


async def test_publish_many_of_nothing(feed_db: Database) -> None:
    async with feed_db.transaction() as session:
        assert await venue_feed.publish_many(session, "receipt", []) == []
    assert await venue_feed.events_after(feed_db, 0) == []


async def test_publish_many_rejects_unknown_kind(feed_db: Database) -> None:
    async with feed_db.transaction() as session:
        with pytest.raises(InputError, match="unknown"):
            await venue_feed.publish_many(session, "confetti", [{"text": "x"}])
