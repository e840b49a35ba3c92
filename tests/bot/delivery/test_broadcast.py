"""Announcements from the outbox to attendees, with the real bot against the emulator."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from bot.db.models import Attendee, Delivery
from bot.emulator import FaultKind
from bot.services import announcements, attendees, events
from bot.services.attendees import Arrival
from bot.services.events import EventFields


async def seat_attendees(stage, count: int, first_id: int = 1000) -> list[int]:
    """Register `count` attendees directly and give each a private chat in the emulator."""
    db = stage.bot.db
    event = await events.active_event(db) or await events.create_event(
        db, EventFields(title="Night")
    )
    ids = []
    for n in range(count):
        user_id = first_id + n
        stage.emulator.user(user_id, f"Guest {n}")
        await attendees.register(
            db,
            event.id,
            Arrival(user_id, user_id, f"Guest {n}", None, "en", "qr"),
        )
        ids.append(user_id)
    return ids


async def announce(stage, text: str):
    return await announcements.create(
        stage.bot.db, stage.bot.scheduler, text=text, created_by="test"
    )


async def wait_until_done(stage, announcement_id: int, timeout: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = await announcements.get(stage.bot.db, announcement_id)
        if view.status == "done":
            return view.counts
        await asyncio.sleep(0.1)
    raise TimeoutError(f"announcement {announcement_id} not done: {view.status} {view.counts}")


def copies(stage, chat_id: int, text: str) -> int:
    return sum(1 for m in stage.emulator.messages(chat_id) if m.get("text") == text)


async def delivery_states(stage) -> dict[int, str]:
    async with stage.bot.db.transaction() as session:
        rows = await session.execute(select(Delivery.chat_id, Delivery.status))
        return {chat_id: status.value for chat_id, status in rows}


async def test_announcement_reaches_every_subscriber(stage):
    chats = await seat_attendees(stage, 5)

    view = await announce(stage, "Doors open")
    counts = await wait_until_done(stage, view.id)

    assert counts == {"sent": 5}
    assert all(copies(stage, chat, "Doors open") == 1 for chat in chats)


async def test_blocked_recipient_marked_unreachable_not_retried(stage):
    first, second, third = await seat_attendees(stage, 3)
    stage.emulator.block_chat(second)

    view = await announce(stage, "Drop in 10")
    await wait_until_done(stage, view.id)

    states = await delivery_states(stage)
    assert states == {first: "sent", second: "unreachable", third: "sent"}
    assert len([c for c in stage.emulator.calls_to("sendMessage") if c.chat_id == second]) == 1
    async with stage.bot.db.transaction() as session:
        unreachable = await session.scalar(
            select(Attendee.unreachable).where(Attendee.chat_id == second)
        )
    assert unreachable is True


async def test_flood_429_pauses_then_delivers_each_once(limited_stage):
    stage = limited_stage
    chats = await seat_attendees(stage, 100)
    stage.emulator.faults.add(method="sendMessage", kind=FaultKind.FLOOD, skip=30, retry_after=3)

    view = await announce(stage, "Flash sale")
    await wait_until_done(stage, view.id, timeout=60)

    sends = [c for c in stage.emulator.calls_to("sendMessage") if c.ok]
    flood_at = next(c.at for c in stage.emulator.calls_to("sendMessage") if c.status == 429)
    after_flood = [c.at for c in sends if c.at > flood_at]
    assert all(copies(stage, chat, "Flash sale") == 1 for chat in chats)
    assert min(after_flood) - flood_at >= 3.0
    assert stage.emulator.stats.max_rate() <= 30
    assert stage.emulator.stats.http_429 == 1


async def test_lost_response_marked_uncertain_not_resent(stage):
    first, second, third = await seat_attendees(stage, 3)
    stage.emulator.faults.add(method="sendMessage", kind=FaultKind.LOST_RESPONSE, chat_id=second)

    view = await announce(stage, "Last call")
    await wait_until_done(stage, view.id)

    states = await delivery_states(stage)
    assert states[second] == "uncertain"
    assert copies(stage, second, "Last call") == 1
    assert states[first] == states[third] == "sent"


async def test_server_errors_retried_until_sent(stage):
    (chat,) = await seat_attendees(stage, 1)
    stage.emulator.faults.add(
        method="sendMessage", kind=FaultKind.SERVER_ERROR, chat_id=chat, count=2
    )

    view = await announce(stage, "Encore")
    counts = await wait_until_done(stage, view.id)

    assert counts == {"sent": 1}
    assert copies(stage, chat, "Encore") == 1


async def test_bad_request_marked_failed_with_reason(stage):
    (chat,) = await seat_attendees(stage, 1)
    stage.emulator.faults.add(
        method="sendMessage",
        kind=FaultKind.BAD_REQUEST,
        chat_id=chat,
        description="Bad Request: chat not found",
    )

    view = await announce(stage, "Hello")
    await wait_until_done(stage, view.id)

    async with stage.bot.db.transaction() as session:
        error = await session.scalar(select(Delivery.error))
    assert error == "Bad Request: chat not found"


async def test_late_subscriber_gets_relevant_announcement_once(stage):
    await seat_attendees(stage, 2)
    view = await announce(stage, "Map updated")
    await wait_until_done(stage, view.id)
    late = stage.emulator.user(5000, "Late")

    stage.emulator.send_start(late)
    await stage.emulator.wait_for_message(5000, lambda m: m.get("text") == "Map updated")
    stage.emulator.send_start(late)
    await stage.emulator.wait_for(lambda: len(stage.emulator.messages(5000)) >= 3)
    await asyncio.sleep(0.5)

    assert copies(stage, 5000, "Map updated") == 1


async def test_unreachable_attendee_catches_up_after_return(stage):
    (chat,) = await seat_attendees(stage, 1)
    stage.emulator.block_chat(chat)
    view = await announce(stage, "Queue moved")
    await wait_until_done(stage, view.id)
    stage.emulator.block_chat(chat, blocked=False)

    stage.emulator.send_start(stage.emulator.state.users[chat])

    await stage.emulator.wait_for_message(chat, lambda m: m.get("text") == "Queue moved")
    assert copies(stage, chat, "Queue moved") == 1


async def test_bot_api_down_for_a_minute_loses_nothing(stage):
    chats = await seat_attendees(stage, 40)
    stage.emulator.faults.add(method="sendMessage", kind=FaultKind.DELAY, delay=0.05, count=40)
    view = await announce(stage, "Still on")
    await stage.emulator.wait_for(
        lambda: len(stage.emulator.calls_to("sendMessage")) >= 10, timeout=10
    )

    await stage.cut_uplink()
    await asyncio.sleep(60)
    await stage.restore_uplink()
    counts = await wait_until_done(stage, view.id, timeout=120)

    assert counts.get("sent", 0) + counts.get("uncertain", 0) == 40
    assert all(copies(stage, chat, "Still on") <= 1 for chat in chats)
    assert sum(copies(stage, chat, "Still on") for chat in chats) >= 40 - counts.get(
        "uncertain", 0
    )


async def test_metrics_count_deliveries_by_state(stage):
    import aiohttp

    first, second = await seat_attendees(stage, 2)
    stage.emulator.block_chat(second)
    view = await announce(stage, "Counted")
    await wait_until_done(stage, view.id)

    async with aiohttp.ClientSession() as client:
        response = await client.get(f"http://127.0.0.1:{stage.bot.web_port}/metrics")
        body = await response.text()

    assert response.status == 200
    assert 'micropop_deliveries_total{state="sent"}' in body
    assert 'micropop_deliveries_total{state="unreachable"}' in body
    assert "micropop_outbox_queue_depth" in body
    assert "micropop_send_latency_seconds_bucket" in body
