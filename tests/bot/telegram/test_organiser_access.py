"""Who may use the organiser console: the organiser group and its anonymous admins only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.db.types import utcnow
from bot.emulator import Chat, User
from bot.services import announcements, drops, events
from bot.services.events import EventFields
from bot.telegram.console import ORGANISER_COMMANDS
from tests.bot.telegram import console_helpers
from tests.bot.telegram.console_helpers import (
    ANONYMOUS_ADMIN,
    TELEGRAM_SERVICE,
    audit_entries,
    bot_messages,
    handled,
    one_reply,
    say,
    shown,
)

# Authorisation is checked on both databases.
console = console_helpers.any_console

# One command line per console command, each of which would change or reveal something.
SAMPLES = {
    "event": "/event Hijacked",
    "newevent": "/newevent Hijacked",
    "venue": "/venue Evil | Nowhere",
    "location": "/location 1 2",
    "tz": "/tz Asia/Tokyo",
    "when": "/when 19:00 +2h",
    "poi": "/poi Trap | here",
    "pois": "/pois",
    "unpoi": "/unpoi 1",
    "map": "/map Evil caption",
    "drop": "/drop Fake | +1h | 5 | 1",
    "editdrop": "/editdrop 1 stock 99",
    "listdrops": "/listdrops",
    "canceldrop": "/canceldrop 1",
    "announce": "/announce Hijacked",
    "schedule": "/schedule +1h Hijacked",
    "queue": "/queue",
    "cancel": "/cancel 1",
    "stats": "/stats",
    "export": "/export",
    "audit": "/audit",
    "hardware": "/hardware",
    "reprint": "/reprint 1",
    "poster": "/poster 1",
}
REJECTION = "Organiser commands work only in the organiser group."


async def set_up_night(stage):
    db = stage.bot.db
    await events.create_event(db, EventFields(title="Spring night", time_zone="Europe/Berlin"))
    await events.add_point(db, "Bar", "Drinks")
    await drops.create_drop(
        db, title="Tote bag", starts_at=utcnow() + timedelta(hours=2), stock=10
    )
    await announcements.create(
        db,
        stage.bot.scheduler,
        text="Last call",
        created_by="test",
        scheduled_for=utcnow() + timedelta(hours=1),
    )


async def snapshot(stage):
    db = stage.bot.db
    event = await events.active_event(db)
    return (
        event,
        await events.list_points(db, event.id),
        await drops.list_drops(db, event.id),
        [(view.id, view.status) for view in await announcements.queue(db)],
    )


def test_samples_cover_every_command():
    assert set(SAMPLES) == set(ORGANISER_COMMANDS)


async def test_member_command_answered(console):
    reply = await one_reply(console, "/help")

    assert "Organiser commands" in reply


async def test_private_chat_commands_rejected(console):
    await set_up_night(console)
    before = await snapshot(console)
    mallory = console.emulator.user(666, "Mallory")
    organiser_messages = len(bot_messages(console, console.organisers.id))

    for name, line in SAMPLES.items():
        # The attendee router handles an attendee's /map: no map yet, then the venue.
        count = 2 if name == "map" else 1
        replies = await say(console, line, user=mallory, chat=mallory.id, count=count)
        if name == "map":
            assert shown(replies[0]) == "The organisers have not shared a map yet."
        else:
            assert shown(replies[0]) == REJECTION, f"{line} in a private chat"

    assert await snapshot(console) == before
    assert len(bot_messages(console, console.organisers.id)) == organiser_messages
    rejected = [entry for entry in await audit_entries(console) if entry.result == "rejected"]
    assert len(rejected) == len(SAMPLES) - 1
    assert {entry.actor_user_id for entry in rejected} == {666}
    assert {entry.chat_id for entry in rejected} == {666}


async def test_private_map_photo_rejected(console):
    await set_up_night(console)
    mallory = console.emulator.user(666, "Mallory")
    before = len(bot_messages(console, mallory.id))

    console.emulator.send_photo(mallory, caption="/map")
    replies = await console.emulator.wait_for(lambda: bot_messages(console, mallory.id)[before:])

    assert shown(replies[0]) == REJECTION
    assert (await events.active_event(console.bot.db)).map_file_id is None


async def test_other_group_commands_rejected(console):
    await set_up_night(console)
    before = await snapshot(console)
    elsewhere = console.emulator.group(-1005550001, "Fans")
    fan = console.emulator.user(667, "Fan")
    organiser_messages = len(bot_messages(console, console.organisers.id))

    for line in SAMPLES.values():
        reply = await one_reply(console, line, user=fan, chat=elsewhere)
        assert reply == REJECTION, f"{line} in another group"

    assert await snapshot(console) == before
    assert len(bot_messages(console, console.organisers.id)) == organiser_messages
    rejected = [entry for entry in await audit_entries(console) if entry.result == "rejected"]
    assert len(rejected) == len(SAMPLES)
    assert {entry.actor_user_id for entry in rejected} == {667}
    assert {entry.chat_id for entry in rejected} == {elsewhere.id}


async def test_anonymous_admin_acts_as_group(console):
    await set_up_night(console)
    group = console.organisers

    for name, line in SAMPLES.items():
        # /map TEXT confirms, then previews: no picture yet, then the venue with its points.
        count = 3 if name == "map" else 1
        replies = await say(console, line, user=ANONYMOUS_ADMIN, sender_chat=group, count=count)
        assert shown(replies[0]) != REJECTION, f"{line} by the anonymous admin"

    event = await events.active_event(console.bot.db)
    assert event.title == "Hijacked"
    entries = [entry for entry in await audit_entries(console) if entry.action in SAMPLES]
    assert {entry.actor_name for entry in entries} == {"Anonymous admin of Organisers"}
    assert {entry.actor_user_id for entry in entries} == {None}
    assert "rejected" not in {entry.result for entry in entries}


@pytest.mark.parametrize("kind", ["automatic forward", "post as channel", "foreign admin"])
async def test_posts_on_behalf_of_chats_ignored(console, kind):
    await set_up_night(console)
    before = await snapshot(console)
    channel = console.emulator.group(-1007770001, "News", "channel")
    sender, chat, extra = {
        "automatic forward": (
            TELEGRAM_SERVICE,
            console.organisers,
            {"sender_chat": channel, "is_automatic_forward": True},
        ),
        "post as channel": (
            console.emulator.user(136817688, "Channel"),
            console.organisers,
            {"sender_chat": channel},
        ),
        "foreign admin": (
            ANONYMOUS_ADMIN,
            console.emulator.group(-1005550002, "Fans"),
            {"sender_chat": Chat(-1005550002, "supergroup", "Fans")},
        ),
    }[kind]
    sent_before = len(console.emulator.calls_to("sendMessage"))

    for line in SAMPLES.values():
        update_id = console.emulator.send_text(sender, line, chat=chat, **extra)
        await handled(console, update_id)

    assert len(console.emulator.calls_to("sendMessage")) == sent_before
    assert await audit_entries(console) == []
    assert await snapshot(console) == before


async def test_rejection_in_user_language(console):
    mallory = console.emulator.user(666, "Mallory", language_code="de")

    reply = await one_reply(console, "/announce Hallo", user=mallory, chat=mallory.id)

    assert reply == "Orga-Befehle funktionieren nur in der Orga-Gruppe."


async def test_attendee_commands_still_work(console):
    await set_up_night(console)
    ada = console.emulator.user(101, "Ada")

    (card,) = await say(console, "/start", user=ada, chat=ada.id)

    assert "Spring night" in shown(card)


@pytest.mark.parametrize("who", ["organiser", "attendee"])
async def test_private_chat_rejects_organisers_and_attendees(console, who):
    await set_up_night(console)
    before = await snapshot(console)
    if who == "organiser":
        sender = console.organiser
    else:
        sender = console.emulator.user(668, "Ada")
        await say(console, "/start", user=sender, chat=sender.id)

    for name, line in SAMPLES.items():
        count = 2 if name == "map" else 1
        replies = await say(console, line, user=sender, chat=sender.id, count=count)
        if name != "map":
            assert shown(replies[0]) == REJECTION, f"{line} from the {who} in a private chat"

    assert await snapshot(console) == before
    rejected = [entry for entry in await audit_entries(console) if entry.result == "rejected"]
    assert len(rejected) == len(SAMPLES) - 1
    assert {entry.actor_user_id for entry in rejected} == {sender.id}


async def test_organiser_in_other_group_rejected(console):
    await set_up_night(console)
    before = await snapshot(console)
    elsewhere = console.emulator.group(-1005550003, "Friends")

    for line in SAMPLES.values():
        reply = await one_reply(console, line, user=console.organiser, chat=elsewhere)
        assert reply == REJECTION, f"{line} from an organiser in another group"

    assert await snapshot(console) == before


def raw_message(console, kind: str, line: str) -> dict:
    """Build the update of a command line that is not an organiser's own, by `kind`."""
    group = console.emulator.state.chats[console.organisers.id]
    channel = console.emulator.group(-1007770002, "News", "channel")
    command, _, rest = line.partition(" ")
    sender = console.organiser.to_api()
    fields = {}
    if kind == "other bot":
        other_bot = User(7_900_000_101, "Helper", username="helper_bot", is_bot=True)
        group.members[other_bot.id] = {"status": "administrator"}
        sender = other_bot.to_api()
    elif kind == "forward of a channel post":
        fields["forward_origin"] = {
            "type": "channel", "chat": channel.to_api(), "message_id": 5, "date": 0
        }  # fmt: skip
    elif kind == "forward of an organiser's message":
        fields["forward_origin"] = {"type": "user", "sender_user": sender, "date": 0}
    elif kind == "addressed to another bot":
        command += "@other_bot"
    elif kind == "anonymous bot without sender_chat":
        sender = ANONYMOUS_ADMIN.to_api()
    elif kind == "Telegram service without sender_chat":
        sender = TELEGRAM_SERVICE.to_api()
    elif kind == "channel post":
        text = f"{command} {rest}".strip()
        entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        post = console.emulator.state.chats[channel.id].add_message(
            None, sender_chat=channel.to_api(), text=text, entities=entities
        )
        return {"channel_post": post}
    text = f"{command} {rest}".strip()
    entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"message": group.add_message(sender, text=text, entities=entities, **fields)}


IGNORED_KINDS = [
    "other bot",
    "forward of a channel post",
    "forward of an organiser's message",
    "addressed to another bot",
    "anonymous bot without sender_chat",
    "Telegram service without sender_chat",
    "channel post",
]


@pytest.mark.parametrize("kind", IGNORED_KINDS)
async def test_commands_not_from_an_organiser_ignored(console, kind):
    await set_up_night(console)
    before = await snapshot(console)
    sent_before = len(console.emulator.calls_to("sendMessage"))

    for line in SAMPLES.values():
        update_id = console.emulator.updates.put(raw_message(console, kind, line))
        if kind == "channel post":
            await console.emulator.wait_for(
                lambda: not console.emulator.updates.pending, timeout=10
            )
            await console.emulator.wait_for(lambda: console.bot.in_flight.count == 0, timeout=10)
        else:
            await handled(console, update_id)

    assert len(console.emulator.calls_to("sendMessage")) == sent_before
    assert await audit_entries(console) == []
    assert await snapshot(console) == before
