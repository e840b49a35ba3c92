"""429 storms: every send waits out retry_after, nothing is lost and nothing is sent twice."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import insert

from bot.db.models import Attendee
from bot.emulator import FaultKind, RateLimits
from bot.rehearsal.stage import Stage
from bot.services import announcements, events
from bot.services.events import EventFields
from tests.figures import record

TEXT = "Storm-proof announcement"
FIRST_GUEST = 7_400_000_000
RECIPIENTS = 150
# A request answered while another was on the wire may land this long after a 429.
IN_FLIGHT_S = 0.25


async def seat_guests(stage: Stage) -> list[int]:
    event = await events.create_event(stage.bot.db, EventFields(title="Storm night"))
    guests = list(range(FIRST_GUEST, FIRST_GUEST + RECIPIENTS))
    rows = [
        {"event_id": event.id, "telegram_user_id": guest, "chat_id": guest, "language": "en"}
        for guest in guests
    ]
    async with stage.bot.db.transaction() as session:
        await session.execute(insert(Attendee), rows)
    for guest in guests:
        stage.emulator.user(guest, "Guest")
    return guests


def broadcast(stage: Stage) -> list:
    return [
        call for call in stage.emulator.calls_to("sendMessage") if call.params.get("text") == TEXT
    ]


def early_sends(calls: list) -> list:
    """Return the requests answered inside a retry_after window that started before them."""
    early = []
    for flood in (call for call in calls if call.status == 429):
        retry_after = flood.response["parameters"]["retry_after"]
        early += [
            call
            for call in calls
            if flood.at + IN_FLIGHT_S < call.at < flood.at + retry_after - IN_FLIGHT_S
        ]
    return early


async def test_flood_storms_lose_nothing(tmp_path):
    async with Stage.on_sqlite(tmp_path, limits=RateLimits()) as stage:
        guests = await seat_guests(stage)
        faults = stage.emulator.faults
        faults.add(FaultKind.FLOOD, "sendMessage", count=6, skip=30, retry_after=2)
        faults.add(FaultKind.FLOOD, "sendMessage", count=6, skip=90, retry_after=1)

        await announcements.create(stage.bot.db, stage.bot.scheduler, text=TEXT, created_by="t")
        await stage.emulator.wait_for(
            lambda: len({call.chat_id for call in broadcast(stage) if call.ok}) == RECIPIENTS,
            timeout=90,
        )

    calls = broadcast(stage)
    copies = Counter(call.chat_id for call in calls if call.ok)
    floods = sum(call.status == 429 for call in calls)
    early = early_sends(calls)
    record(
        "flood-storm",
        recipients=RECIPIENTS,
        http_429=floods,
        sends_inside_retry_after=len(early),
        duplicates=sum(count - 1 for count in copies.values()),
    )
    assert [guest for guest in guests if copies[guest] == 0] == []
    assert max(copies.values()) == 1
    assert floods == 12
    assert early == []


async def test_reply_during_storm_arrives(tmp_path):
    async with Stage.on_sqlite(tmp_path, limits=RateLimits()) as stage:
        await events.create_event(stage.bot.db, EventFields(title="Storm night"))
        ada = stage.emulator.user(7_400_100_001, "Ada")
        stage.emulator.faults.add(FaultKind.FLOOD, "sendMessage", count=3, retry_after=1)

        stage.emulator.send_start(ada)
        card = await stage.emulator.wait_for_message(ada.id, timeout=20)

    assert "Storm night" in card["text"]
