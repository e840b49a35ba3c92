"""Organiser announcements end to end: send, schedule, split, queue, cancel and confirm."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.db.types import utcnow
from bot.rehearsal.stage import Stage
from bot.services import announcements, attendees, events
from bot.services.attendees import Arrival
from bot.textsplit import utf16_len
from tests.bot.telegram import console_helpers
from tests.bot.telegram.console_helpers import (
    FAST_RATES,
    audit_entries,
    bot_messages,
    one_reply,
    say,
    shown,
)

console = console_helpers.console
GUESTS = (501, 502, 503)


async def seat(stage, user_ids=GUESTS) -> None:
    """Create the event and register attendees, each with a private chat in the emulator."""
    await one_reply(stage, "/event Spring night")
    await one_reply(stage, "/tz Europe/Berlin")
    event = await events.active_event(stage.bot.db)
    for user_id in user_ids:
        stage.emulator.user(user_id, f"Guest {user_id}")
        arrival = Arrival(user_id, user_id, f"Guest {user_id}", None, "en", "qr")
        await attendees.register(stage.bot.db, event.id, arrival)


async def received(stage, chat_id: int, count: int) -> list[str]:
    messages = await stage.emulator.wait_for(
        lambda: (found := bot_messages(stage, chat_id)) and len(found) >= count and found,
        timeout=15,
    )
    return [shown(message) for message in messages]


async def stored(stage) -> list[announcements.AnnouncementView]:
    return await announcements.queue(stage.bot.db)


@pytest.fixture
async def confirming(tmp_path):
    """A bot that requires a confirmation press for more than one recipient."""
    async with Stage.on_sqlite(tmp_path, broadcast_confirm_over=1, **FAST_RATES) as stage:
        yield stage


@pytest.fixture
async def two_person(tmp_path):
    """A bot whose large broadcasts a second organiser has to confirm."""
    async with Stage.on_sqlite(
        tmp_path,
        broadcast_confirm_over=1,
        broadcast_second_organiser=True,
        **FAST_RATES,
    ) as stage:
        yield stage


async def test_announce_reaches_attendees(console):
    await seat(console)

    reply = await one_reply(console, "/announce Doors open <now> & welcome")

    assert reply == "Announcement #1 is being sent to 3 attendees."
    for user_id in GUESTS:
        assert await received(console, user_id, 1) == ["Doors open <now> & welcome"]


async def test_announce_to_one_attendee_singular(console):
    await seat(console, user_ids=GUESTS[:1])

    reply = await one_reply(console, "/announce Doors open")

    assert reply == "Announcement #1 is being sent to 1 attendee."


async def test_announce_without_text_rejected(console):
    await seat(console)

    reply = await one_reply(console, "/announce")

    assert reply == "⚠️ Missing announcement text: use /announce TEXT, e.g. /announce Doors open"
    assert await stored(console) == []


async def test_long_announcement_arrives_in_order(console):
    await seat(console, (501,))
    text = ("Welcome to the night market. " * 120 + "\n\n" + "Stalls close at 23:00. " * 60)[:4097]
    assert len(text) == 4097

    await one_reply(console, f"/announce {text}")
    first, second = await received(console, 501, 2)

    assert utf16_len(first) <= 4096
    assert utf16_len(second) <= 4096
    assert text.startswith(first)
    assert " ".join((first + " " + second).split()) == " ".join(text.split())


async def test_long_announcement_keeps_surrogate_pair(console):
    await seat(console, (501,))
    # U+1F600 takes two UTF-16 units, the 4096th and 4097th, so a cut at the limit would split it.
    text = "a" * 4095 + "\U0001f600" + "b"
    assert utf16_len(text) == 4098

    await one_reply(console, f"/announce {text}")
    first, second = await received(console, 501, 2)

    assert first == "a" * 4095
    assert second == "\U0001f600b"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "/schedule 25:70 x",
            '⚠️ Invalid time "25:70": use HH:MM, +15m or YYYY-MM-DD HH:MM in the event\'s time '
            "zone (Europe/Berlin).",
        ),
        (
            "/schedule yesterday x",
            '⚠️ Invalid time "yesterday": use HH:MM, +15m or YYYY-MM-DD HH:MM in the event\'s '
            "time zone (Europe/Berlin).",
        ),
        (
            "/schedule +0m x",
            '⚠️ Invalid time "+0m": an offset must be at least 1 minute, so use HH:MM, +15m or '
            "YYYY-MM-DD HH:MM in the event's time zone (Europe/Berlin).",
        ),
        (
            "/schedule +15m",
            '⚠️ Missing announcement text after "+15m": use /schedule WHEN TEXT, e.g. '
            "/schedule 21:30 Last call at the bar",
        ),
    ],
)
async def test_schedule_bad_input_named(console, line, expected):
    await seat(console)

    reply = await one_reply(console, line)

    assert reply == expected
    assert await stored(console) == []


async def read_job_time(stage, announcement_id: int) -> datetime:
    job = await stage.bot.scheduler.get_job(f"announcement:{announcement_id}")
    return job.next_run_time


@pytest.mark.parametrize(("when", "minutes"), [("+15m", 15), ("+2h", 120), ("+1h30m", 90)])
async def test_schedule_offset_from_now(console, when, minutes):
    await seat(console)
    before = utcnow()

    reply = await one_reply(console, f"/schedule {when} Raffle at the bar")

    after = utcnow()
    (view,) = await stored(console)
    offset = timedelta(minutes=minutes)
    assert reply.startswith("Announcement #1 scheduled for ")
    assert before + offset <= view.scheduled_for <= after + offset
    assert await read_job_time(console, view.id) == view.scheduled_for


def find_next_local_time(clock: time, zone: str, now: datetime) -> datetime:
    """Return the next time after `now` that clocks in `zone` show `clock` (no DST change)."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    candidate = datetime.combine(today, clock, tzinfo=tz)
    if candidate <= now:
        candidate = datetime.combine(today + timedelta(days=1), clock, tzinfo=tz)
    return candidate


async def test_schedule_clock_in_event_zone(console):
    await seat(console)
    before = utcnow()

    reply = await one_reply(console, "/schedule 21:30 Last call at the bar")

    after = utcnow()
    (view,) = await stored(console)
    expected = {
        find_next_local_time(time(21, 30), "Europe/Berlin", moment) for moment in (before, after)
    }
    assert view.scheduled_for in expected
    local = view.scheduled_for.astimezone(ZoneInfo("Europe/Berlin"))
    assert reply == f"Announcement #1 scheduled for {local:%Y-%m-%d} 21:30, now 3 attendees."
    assert await read_job_time(console, view.id) == view.scheduled_for


async def test_schedule_past_date_rejected(console):
    await seat(console)

    reply = await one_reply(console, "/schedule 2020-01-01 10:00 Too late")

    assert reply.startswith('⚠️ Invalid time "2020-01-01 10:00": it is in the past (now ')


async def test_schedule_then_queue_then_cancel(console):
    await seat(console)

    scheduled = await one_reply(console, "/schedule 2027-01-15 21:30 Last call at the bar")
    queue = await one_reply(console, "/queue")
    cancelled = await one_reply(console, "/cancel 1")

    assert scheduled == "Announcement #1 scheduled for 2027-01-15 21:30, now 3 attendees."
    assert "#1 scheduled 2027-01-15 21:30 (announcement)\nLast call at the bar" in queue
    assert cancelled == "Announcement #1 cancelled; deliveries not yet sent expire."
    assert await stored(console) == []


async def test_queue_empty(console):
    await seat(console)

    assert await one_reply(console, "/queue") == "Nothing is scheduled or being sent."


async def test_cancel_unknown_announcement(console):
    await seat(console)

    reply = await one_reply(console, "/cancel 999999")

    assert reply == "⚠️ Announcement 999999 not found: see /queue for the current ids"


async def ask_confirmation(stage) -> dict:
    await seat(stage)
    (message,) = await say(stage, "/announce Drop in 10 minutes")
    return message


def button_data(message: dict, action: str) -> str:
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if button["callback_data"].startswith(f"bcast:{action}:"):
                return button["callback_data"]
    raise AssertionError(f"no {action} button in {message}")


async def press(stage, user, message: dict, data: str) -> dict:
    """Press a button and return the answer the bot gave to the callback query."""
    stage.emulator.press_button(user, message, data)
    queries = stage.emulator.state.callback_queries

    def answer():
        # Wrapped, because an answer without text is an empty, falsy dict.
        return next(
            ([q["answer"]] for q in queries.values() if q["data"] == data and "answer" in q),
            None,
        )

    (result,) = await stage.emulator.wait_for(answer, timeout=10)
    queries.clear()
    return result


async def status(stage, announcement_id: int = 1) -> str:
    return (await announcements.get(stage.bot.db, announcement_id)).status


async def test_big_broadcast_waits_for_confirmation(confirming):
    message = await ask_confirmation(confirming)

    assert message["text"].startswith("Announcement #1 goes to 3 attendees at ")
    assert button_data(message, "confirm") == "bcast:confirm:1"
    assert await status(confirming) == "awaiting_confirmation"
    assert bot_messages(confirming, GUESTS[0]) == []


async def test_confirm_press_sends_broadcast(confirming):
    message = await ask_confirmation(confirming)

    answer = await press(
        confirming, confirming.organiser, message, button_data(message, "confirm")
    )

    assert answer == {}
    assert await received(confirming, GUESTS[0], 1) == ["Drop in 10 minutes"]
    edited = confirming.emulator.state.chats[confirming.organisers.id].messages[
        message["message_id"]
    ]
    assert edited["text"].startswith("Announcement #1 confirmed by Olga, sending at ")
    assert "reply_markup" not in edited


async def test_discard_press_cancels_broadcast(confirming):
    message = await ask_confirmation(confirming)

    await press(confirming, confirming.organiser, message, button_data(message, "discard"))

    assert await status(confirming) == "cancelled"


async def test_press_by_non_member_rejected(confirming):
    message = await ask_confirmation(confirming)
    mallory = confirming.emulator.user(666, "Mallory")

    answer = await press(confirming, mallory, message, button_data(message, "confirm"))

    assert answer == {
        "text": "Only members of the organiser group can do this.",
        "show_alert": True,
    }
    assert await status(confirming) == "awaiting_confirmation"
    refused = [entry for entry in await audit_entries(confirming) if entry.result == "refused"]
    assert [(entry.actor_user_id, entry.action) for entry in refused] == [
        (666, "broadcast-confirm")
    ]


async def test_press_after_leaving_group_rejected(confirming):
    message = await ask_confirmation(confirming)
    confirming.emulator.set_member(confirming.organisers, confirming.organiser, "left")

    answer = await press(
        confirming, confirming.organiser, message, button_data(message, "confirm")
    )

    assert answer["show_alert"] is True
    assert await status(confirming) == "awaiting_confirmation"


async def test_forged_announcement_id_not_found(confirming):
    message = await ask_confirmation(confirming)

    answer = await press(confirming, confirming.organiser, message, "bcast:confirm:999")

    assert answer["text"] == "Announcement 999 not found: see /queue for the current ids"
    assert await status(confirming) == "awaiting_confirmation"


async def test_press_in_other_chat_rejected(confirming):
    await ask_confirmation(confirming)
    private = confirming.emulator.state.chats[confirming.organiser.id]
    fake = private.add_message(confirming.organiser.to_api(), text="press me")

    answer = await press(confirming, confirming.organiser, fake, "bcast:confirm:1")

    assert answer["text"] == "Only members of the organiser group can do this."
    assert await status(confirming) == "awaiting_confirmation"


async def test_creator_cannot_confirm_own_broadcast(two_person):
    message = await ask_confirmation(two_person)

    answer = await press(
        two_person, two_person.organiser, message, button_data(message, "confirm")
    )

    assert answer["text"] == "Another organiser has to confirm this broadcast."
    assert await status(two_person) == "awaiting_confirmation"


async def test_second_organiser_confirms(two_person):
    message = await ask_confirmation(two_person)
    bea = two_person.emulator.user(9002, "Bea")
    two_person.emulator.set_member(two_person.organisers, bea, "member")

    await press(two_person, bea, message, button_data(message, "confirm"))

    assert await received(two_person, GUESTS[0], 1) == ["Drop in 10 minutes"]
