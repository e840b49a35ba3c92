"""The rest of the authorisation matrix: buttons, receipt links, bots, forwards and mentions.

Console commands typed in private chats, other groups, by anonymous admins and as channel posts
are covered in test_organiser_access.py. Here: who may press the organiser buttons (Confirm,
Discard, Mark collected) by their membership of the organiser group right now, who sees what
behind a receipt link, and messages that look like commands but are not an organiser's own:
another bot, a forwarded post, a command addressed to another bot and a channel post update.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot import links
from bot.db.models import Announcement, Claim, Drop
from bot.db.types import utcnow
from bot.emulator import User
from bot.rehearsal.stage import Stage
from bot.services import announcements, drops, events
from bot.services.events import EventFields
from bot.telegram.drop_keyboards import COLLECT, ReceiptCallback
from bot.telegram.organiser_keyboards import BroadcastCallback
from tests.bot.telegram.console_helpers import FAST_RATES, audit_entries, bot_messages, handled
from tests.bot.telegram.stage_helpers import claim, start_payload

GUEST = 7_900_000_001
PRESSER = 7_900_000_002
# Membership of the organiser group, as getChatMember reports it, and whether it may press.
MEMBERSHIP = {
    "creator": ({"status": "creator"}, True),
    "administrator": ({"status": "administrator"}, True),
    "member": ({"status": "member"}, True),
    "restricted member": ({"status": "restricted", "is_member": True}, True),
    "restricted non-member": ({"status": "restricted", "is_member": False}, False),
    "left": ({"status": "left"}, False),
    "kicked": ({"status": "kicked", "until_date": 0}, False),
    "never joined": (None, False),
}


@pytest.fixture
async def night(tmp_path):
    """A guest's held claim and a broadcast waiting for an organiser's confirmation."""
    async with Stage.on_sqlite(tmp_path, broadcast_confirm_over=0, **FAST_RATES) as stage:
        db = stage.bot.db
        await events.create_event(db, EventFields(title="Matrix night"))
        drop = await drops.create_drop(
            db, title="Tote bag", starts_at=utcnow() + timedelta(minutes=5), stock=5
        )
        async with db.transaction() as session:
            await session.execute(update(Drop).values(starts_at=utcnow() - timedelta(seconds=1)))
        guest = stage.emulator.user(GUEST, "Gina")
        await claim(stage, guest, drop.id)
        broadcast = await announcements.create(
            db, stage.bot.scheduler, text="Doors open", created_by="Olga", needs_confirmation=True
        )
        yield stage, broadcast


def presser(stage: Stage, membership: dict | None) -> User:
    user = stage.emulator.user(PRESSER, "Pat")
    if membership is not None:
        stage.emulator.set_member(stage.organisers, user, membership["status"], **{
            key: value for key, value in membership.items() if key != "status"
        })  # fmt: skip
    return user


def group_message(stage: Stage, text: str) -> dict:
    """A message of the bot's in the organiser group, where the buttons are."""
    bot_user = stage.emulator.bot_user("4242:x")
    return stage.emulator.state.chats[stage.organisers.id].add_message(
        bot_user.to_api(), text=text
    )


async def press(stage: Stage, user: User, message: dict, data: str) -> dict:
    """Press a button and return the callback answer the bot gave."""
    before = len(stage.emulator.calls_to("answerCallbackQuery"))
    stage.emulator.press_button(user, message, data)
    await stage.emulator.wait_for(
        lambda: len(stage.emulator.calls_to("answerCallbackQuery")) > before, timeout=10
    )
    await stage.emulator.wait_for(lambda: stage.bot.in_flight.count == 0, timeout=10)
    return stage.emulator.calls_to("answerCallbackQuery")[-1].params


async def status_of(stage: Stage, model, row_id: int) -> str:
    async with stage.bot.db.transaction() as session:
        return (await session.scalar(select(model.status).where(model.id == row_id))).value


@pytest.mark.parametrize("membership", list(MEMBERSHIP))
async def test_broadcast_confirm_by_membership(night, membership):
    stage, broadcast = night
    details, allowed = MEMBERSHIP[membership]
    user = presser(stage, details)
    data = BroadcastCallback(action="confirm", announcement_id=broadcast.id).pack()

    await press(stage, user, group_message(stage, "Confirm?"), data)

    status = await status_of(stage, Announcement, broadcast.id)
    assert (status != "awaiting_confirmation") is allowed


@pytest.mark.parametrize("membership", list(MEMBERSHIP))
async def test_broadcast_discard_by_membership(night, membership):
    stage, broadcast = night
    details, allowed = MEMBERSHIP[membership]
    user = presser(stage, details)
    data = BroadcastCallback(action="discard", announcement_id=broadcast.id).pack()

    await press(stage, user, group_message(stage, "Confirm?"), data)

    status = await status_of(stage, Announcement, broadcast.id)
    assert (status != "awaiting_confirmation") is allowed


@pytest.mark.parametrize("membership", list(MEMBERSHIP))
async def test_mark_collected_by_membership(night, membership):
    stage, _ = night
    details, allowed = MEMBERSHIP[membership]
    user = presser(stage, details)
    data = ReceiptCallback(action=COLLECT, claim_id=1).pack()

    await press(stage, user, group_message(stage, "Receipt"), data)

    assert (await status_of(stage, Claim, 1) == "collected") is allowed


async def test_collect_press_audited(night):
    stage, _ = night
    data = ReceiptCallback(action=COLLECT, claim_id=1).pack()

    await press(stage, stage.organiser, group_message(stage, "Receipt"), data)
    await press(stage, stage.organiser, group_message(stage, "Receipt"), data)
    await press(stage, presser(stage, None), group_message(stage, "Receipt"), data)

    entries = [entry for entry in await audit_entries(stage) if entry.action == "receipt-collect"]
    assert [(entry.actor_user_id, entry.result) for entry in reversed(entries)] == [
        (stage.organiser.id, "ok"),
        (stage.organiser.id, "ok"),
        (PRESSER, "refused"),
    ]
    assert entries[-1].detail == "claim 1 -> collected"
    assert entries[-2].detail == "claim 1 -> already settled"
    assert {entry.chat_id for entry in entries} == {stage.organisers.id}


async def test_confirm_pressed_outside_group_refused(night):
    stage, broadcast = night
    user = presser(stage, {"status": "administrator"})
    stage.emulator.send_start(user)
    card = await stage.emulator.wait_for_message(user.id, timeout=10)
    data = BroadcastCallback(action="discard", announcement_id=broadcast.id).pack()

    answer = await press(stage, user, card, data)

    assert answer.get("show_alert") is True
    assert await status_of(stage, Announcement, broadcast.id) == "awaiting_confirmation"


async def test_refused_press_is_audited(night):
    stage, broadcast = night
    user = presser(stage, None)
    data = BroadcastCallback(action="confirm", announcement_id=broadcast.id).pack()

    await press(stage, user, group_message(stage, "Confirm?"), data)

    refused = [entry for entry in await audit_entries(stage) if entry.result == "refused"]
    assert [(entry.actor_user_id, entry.action) for entry in refused] == [
        (PRESSER, "broadcast-confirm")
    ]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("owner", "photo"),
        ("organiser", "Claimed by Gina"),
        ("former organiser", "belongs to someone else"),
        ("other guest", "belongs to someone else"),
    ],
)
async def test_receipt_link_shows_by_reader(night, who, expected):
    stage, _ = night
    reader = {
        "owner": lambda: stage.emulator.state.users[GUEST],
        "organiser": lambda: stage.organiser,
        "former organiser": lambda: presser(stage, {"status": "left"}),
        "other guest": lambda: presser(stage, None),
    }[who]()
    before = len(stage.emulator.messages(reader.id))

    stage.emulator.send_start(reader, start_payload(stage, links.LinkKind.RECEIPT, 1))
    reply = await stage.emulator.wait_for(
        lambda: stage.emulator.messages(reader.id)[before:], timeout=10
    )

    shown = reply[-1].get("text") or reply[-1].get("caption") or ""
    assert ("photo" in reply[-1]) if expected == "photo" else (expected in shown)


async def command_in_group(stage: Stage, sender: dict, text: str, **fields) -> None:
    """Queue a raw command message in the organiser group and wait until it is handled."""
    command = text.split()[0]
    message = stage.emulator.state.chats[stage.organisers.id].add_message(
        sender,
        text=text,
        entities=[{"type": "bot_command", "offset": 0, "length": len(command)}],
        **fields,
    )
    update_id = stage.emulator.updates.put({"message": message})
    await handled(stage, update_id)


async def test_other_bot_in_group_ignored(night):
    stage, _ = night
    other_bot = User(7_900_000_100, "Helper", username="helper_bot", is_bot=True)
    stage.emulator.set_member(stage.organisers, other_bot, "administrator")

    await command_in_group(stage, other_bot.to_api(), "/newevent Hijacked")

    assert (await events.active_event(stage.bot.db)).title == "Matrix night"
    assert [entry for entry in await audit_entries(stage) if entry.action == "newevent"] == []


async def test_forwarded_command_not_run(night):
    stage, _ = night
    channel = stage.emulator.group(-1007770009, "Public news", "channel")
    origin = {"type": "channel", "chat": channel.to_api(), "message_id": 5, "date": 0}

    await command_in_group(
        stage, stage.organiser.to_api(), "/newevent Hijacked", forward_origin=origin
    )

    assert (await events.active_event(stage.bot.db)).title == "Matrix night"
    assert [entry for entry in await audit_entries(stage) if entry.action == "newevent"] == []


async def test_command_for_other_bot_not_run(night):
    stage, _ = night

    await command_in_group(stage, stage.organiser.to_api(), "/newevent@other_bot Hijacked")

    assert (await events.active_event(stage.bot.db)).title == "Matrix night"


async def test_command_for_this_bot_runs(night):
    stage, _ = night

    await command_in_group(stage, stage.organiser.to_api(), "/newevent@micropop_bot Renamed")

    assert (await events.active_event(stage.bot.db)).title == "Renamed"


async def test_channel_post_command_ignored(night):
    stage, _ = night
    channel = stage.emulator.group(-1007770010, "Linked", "channel")
    post = stage.emulator.state.chats[channel.id].add_message(
        None,
        sender_chat=channel.to_api(),
        text="/newevent Hijacked",
        entities=[{"type": "bot_command", "offset": 0, "length": 9}],
    )

    update_id = stage.emulator.updates.put({"channel_post": post})
    await stage.emulator.wait_for(lambda: not stage.emulator.updates.pending, timeout=10)
    await stage.emulator.wait_for(lambda: stage.bot.in_flight.count == 0, timeout=10)

    assert update_id > 0
    assert (await events.active_event(stage.bot.db)).title == "Matrix night"
    assert bot_messages(stage, channel.id) == []


def test_membership_table_covers_member_statuses():
    statuses = {details["status"] for details, _ in MEMBERSHIP.values() if details}

    assert statuses == {"creator", "administrator", "member", "restricted", "left", "kicked"}
