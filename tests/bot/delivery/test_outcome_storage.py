"""Delivery workers when storing an outcome fails: the pool keeps running, nothing is resent."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from sqlalchemy.exc import IntegrityError, OperationalError

from bot.delivery import outbox, sender
from bot.services import announcements, attendees, events
from bot.services.attendees import Arrival
from bot.services.events import EventFields

GUESTS = range(7_200_000_001, 7_200_000_007)
TEXT = "Outcome storage announcement"


async def seat_guests(stage) -> None:
    event = await events.create_event(stage.bot.db, EventFields(title="Storage night"))
    for guest in GUESTS:
        stage.emulator.user(guest, "Guest")
        await attendees.register(
            stage.bot.db, event.id, Arrival(guest, guest, "Guest", None, "en", "qr")
        )


async def wait_done(stage, announcement_id: int, timeout: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    view = await announcements.get(stage.bot.db, announcement_id)
    while view.status != "done" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        view = await announcements.get(stage.bot.db, announcement_id)
    return view.counts


def sent_copies(stage) -> Counter[int]:
    return Counter(
        call.chat_id
        for call in stage.emulator.calls_to("sendMessage")
        if call.ok and call.params.get("text") == TEXT
    )


async def test_outcome_stored_after_database_outage(stage, monkeypatch):
    await seat_guests(stage)
    real_record_sent = outbox.record_sent
    failures = {"left": 4}

    async def flaky_record_sent(db, *args):
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("UPDATE deliveries", {}, ConnectionRefusedError(111))
        await real_record_sent(db, *args)

    monkeypatch.setattr(outbox, "record_sent", flaky_record_sent)

    view = await announcements.create(stage.bot.db, stage.bot.scheduler, text=TEXT, created_by="t")
    counts = await wait_done(stage, view.id)

    assert counts == {"sent": len(GUESTS)}
    assert set(sent_copies(stage).values()) == {1}
    assert failures["left"] == 0


def test_rejected_statement_is_not_an_outage():
    error = IntegrityError("INSERT", {}, Exception("duplicate key"))

    assert sender.is_database_outage(error) is False


def test_refused_connection_is_an_outage():
    error = OperationalError("SELECT 1", {}, ConnectionRefusedError(111))

    assert sender.is_database_outage(error) is True
