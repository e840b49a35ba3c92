"""Organiser figures, export and audit log end to end, and the group's move to a supergroup."""

from __future__ import annotations

import csv
import io

import pytest

from bot.emulator import FaultKind
from bot.rehearsal.stage import Stage
from bot.services import attendees, events, organisers
from bot.services.attendees import Arrival
from tests.bot.telegram import console_helpers
from tests.bot.telegram.console_helpers import (
    FAST_RATES,
    audit_entries,
    bot_messages,
    one_reply,
    say,
    shown,
)
from tests.bot.telegram.stage_helpers import claim, live_drop

console = console_helpers.console
BASIC_GROUP = -4001
SUPERGROUP = -1004001  # the id Telegram gives the basic group as a supergroup


async def seat_two(stage) -> None:
    await one_reply(stage, "/event Spring night")
    event = await events.active_event(stage.bot.db)
    for user_id, name in ((501, "Ada"), (502, "Bob")):
        stage.emulator.user(user_id, name)
        arrival = Arrival(user_id, user_id, name, None, "en", "qr")
        await attendees.register(stage.bot.db, event.id, arrival)


async def test_stats_reports_figures(console):
    await seat_two(console)
    await one_reply(console, "/drop Tote bag | +1h | 5 | 1")

    reply = await one_reply(console, "/stats")

    assert reply.splitlines() == [
        "Spring night: figures",
        "Attendees: 2, subscribed 2, unreachable 0",
        "#1 Tote bag: 0 held, 0 collected, 0 released (5/5)",
        "Deliveries: -",
    ]


def find_finished_notices(stage) -> list[dict]:
    chat_id = stage.organisers.id
    return [m for m in bot_messages(stage, chat_id) if " finished: " in shown(m)]


async def test_stats_counts_claims_and_deliveries(console):
    await seat_two(console)
    drop = await live_drop(console, stock=5)
    await claim(console, console.emulator.state.users[501], drop.id)
    console.emulator.block_chat(502)
    await one_reply(console, "/announce Doors open")
    # The progress summary is posted once every delivery has its outcome.
    await console.emulator.wait_for(lambda: find_finished_notices(console), timeout=15)

    reply = await one_reply(console, "/stats")

    assert reply.splitlines() == [
        "Spring night: figures",
        "Attendees: 2, subscribed 1, unreachable 1",
        "#1 Tote bag: 1 held, 0 collected, 0 released (4/5)",
        "Deliveries: sent 1, unreachable 1",
    ]


async def test_queue_lists_announcement_in_flight(console):
    await seat_two(console)
    # The emulator delays the send to Ada by 5 s, so the announcement is still being sent.
    console.emulator.faults.add(FaultKind.DELAY, "sendMessage", chat_id=501, delay=5.0)
    await one_reply(console, "/announce Doors open")

    reply = await one_reply(console, "/queue")

    lines = reply.splitlines()
    assert lines[0] == "Queue"
    assert lines[1].startswith("#1 sending ")
    assert "(announcement)" in lines[1]
    assert lines[2] == "Doors open"


async def test_stats_without_event_explains(console):
    reply = await one_reply(console, "/stats")

    assert reply == "⚠️ No event is set up yet: create one with /event TITLE"


async def test_export_sends_csv_document(console):
    await seat_two(console)

    (message,) = await say(console, "/export")

    document = message["document"]
    data = console.emulator.state.files.get(document["file_id"]).data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert document["file_name"].startswith("micropop-event-1-")
    assert document["file_name"].endswith(".csv")
    assert [row["attendee"] for row in rows] == ["Ada", "Bob"]
    assert message["caption"] == "Export for reconciliation: attendee 2"


async def test_export_lists_every_record_kind(console):
    await seat_two(console)
    drop = await live_drop(console, stock=5)
    await claim(console, console.emulator.state.users[501], drop.id)
    await one_reply(console, "/announce Doors open")
    await console.emulator.wait_for(lambda: find_finished_notices(console), timeout=15)

    (message,) = await say(console, "/export")

    data = console.emulator.state.files.get(message["document"]["file_id"]).data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    by_record = {}
    for row in rows:
        by_record.setdefault(row["record"], []).append(row)
    ada_id = by_record["attendee"][0]["attendee_id"]
    assert [row["attendee"] for row in by_record["attendee"]] == ["Ada", "Bob"]
    assert [(row["attendee_id"], row["status"]) for row in by_record["claim"]] == [
        (ada_id, "held")
    ]
    assert sorted(row["status"] for row in by_record["delivery"]) == ["sent", "sent"]
    assert any(row["item"].endswith("announcement 1") for row in by_record["print"])
    assert message["caption"].startswith("Export for reconciliation: attendee 2, claim 1, ")


async def test_audit_lists_actions_with_results(console):
    await one_reply(console, "/event Spring night")
    await one_reply(console, "/schedule 25:70 x")

    reply = await one_reply(console, "/audit")

    # An action is recorded after its reply, so /audit does not list itself yet.
    lines = reply.splitlines()
    assert lines[0] == "Audit log, newest first"
    assert 'Olga: /schedule invalid - /schedule 25:70 x -> Invalid time "25:70"' in lines[1]
    assert "Olga: /event ok - /event Spring night" in lines[2]


async def test_every_console_action_audited(console):
    await one_reply(console, "/event Spring night")
    await one_reply(console, "/cancel 42")

    entries = await audit_entries(console)

    assert [(entry.action, entry.result) for entry in entries] == [
        ("cancel", "not_found"),
        ("event", "ok"),
    ]
    assert {entry.actor_user_id for entry in entries} == {console.organiser.id}
    assert {entry.chat_id for entry in entries} == {console.organisers.id}


@pytest.fixture
async def basic_group(tmp_path):
    """A bot whose organiser group is still a basic group, so it can migrate."""
    async with Stage.on_sqlite(tmp_path, organiser_chat_id=BASIC_GROUP, **FAST_RATES) as stage:
        group = stage.emulator.group(BASIC_GROUP, "Organisers", "group")
        stage.emulator.set_member(group, stage.organiser, "administrator")
        stage.organisers = group
        yield stage


async def stored_chat_id(stage) -> int:
    return await organisers.chat_id(stage.bot.db, stage.bot.settings.organiser_chat_id)


async def test_stats_reply_follows_migration_error(basic_group):
    stage = basic_group
    await seat_two(stage)
    stage.emulator.group(SUPERGROUP, "Organisers", "supergroup")
    stage.emulator.set_member(SUPERGROUP, stage.organiser, "administrator")
    # Every send to the old id fails with 400 and migrate_to_chat_id, as after a migration.
    stage.emulator.faults.add(FaultKind.MIGRATE, "sendMessage", chat_id=BASIC_GROUP, count=None)

    stage.emulator.send_text(stage.organiser, "/stats", chat=BASIC_GROUP)
    reply = await stage.emulator.wait_for(lambda: bot_messages(stage, SUPERGROUP), timeout=10)

    assert shown(reply[0]).startswith("Spring night: figures")
    assert await stored_chat_id(stage) == SUPERGROUP
    assert bot_messages(stage, BASIC_GROUP)[-1]["text"].startswith("Event created.")


async def test_commands_work_from_supergroup_after_migration(basic_group):
    stage = basic_group
    await seat_two(stage)
    stage.emulator.migrate_group(BASIC_GROUP)
    await stage.emulator.wait_for(lambda: bot_messages(stage, SUPERGROUP), timeout=10)

    reply = await one_reply(stage, "/stats", chat=SUPERGROUP)

    assert reply.startswith("Spring night: figures")
    assert await stored_chat_id(stage) == SUPERGROUP


async def test_migration_announced_in_supergroup(basic_group):
    stage = basic_group
    await one_reply(stage, "/event Spring night")

    stage.emulator.migrate_group(BASIC_GROUP)
    (notice,) = await stage.emulator.wait_for(lambda: bot_messages(stage, SUPERGROUP), timeout=10)

    assert shown(notice) == "This group is now a supergroup. Organiser messages follow it here."


async def test_command_from_old_group_after_migration_counts(basic_group):
    stage = basic_group
    await seat_two(stage)
    await organisers.move_chat(stage.bot.db, BASIC_GROUP, SUPERGROUP)
    stage.emulator.group(SUPERGROUP, "Organisers", "supergroup")

    stage.emulator.send_text(stage.organiser, "/stats", chat=BASIC_GROUP)
    (reply,) = await stage.emulator.wait_for(lambda: bot_messages(stage, SUPERGROUP), timeout=10)

    assert shown(reply).startswith("Spring night: figures")


async def test_stats_sent_during_migration_not_lost(basic_group):
    stage = basic_group
    await seat_two(stage)

    stage.emulator.send_text(stage.organiser, "/stats", chat=BASIC_GROUP)
    stage.emulator.migrate_group(BASIC_GROUP)

    def stats_reply():
        return [m for m in bot_messages(stage, SUPERGROUP) if "figures" in shown(m)]

    (reply,) = await stage.emulator.wait_for(stats_reply, timeout=10)
    assert shown(reply).startswith("Spring night: figures")


async def migrate_organiser_group(stage) -> None:
    """Turn the basic group into a supergroup and wait until the bot stored the new id."""
    stage.emulator.migrate_group(BASIC_GROUP)
    await stage.emulator.wait_for(lambda: bot_messages(stage, SUPERGROUP), timeout=10)
    assert await stored_chat_id(stage) == SUPERGROUP


async def test_venue_alert_follows_migration(basic_group):
    stage = basic_group
    await one_reply(stage, "/event Spring night")
    await migrate_organiser_group(stage)

    await stage.bot.alert_organisers("Printer of main-hall is offline")

    assert shown(bot_messages(stage, SUPERGROUP)[-1]) == "Printer of main-hall is offline"


async def test_broadcast_progress_follows_migration(basic_group):
    stage = basic_group
    await seat_two(stage)
    await migrate_organiser_group(stage)

    await one_reply(stage, "/announce Doors open", chat=SUPERGROUP)

    def summary():
        found = [m for m in bot_messages(stage, SUPERGROUP) if "finished" in shown(m)]
        return found or None

    (message,) = await stage.emulator.wait_for(summary, timeout=15)
    assert shown(message) == "Announcement 1 finished: sent 2"


async def test_progress_edit_after_migration_sent_anew(basic_group):
    stage = basic_group
    await one_reply(stage, "/event Spring night")
    old_id = await stage.bot.progress.send("Announcement 1 sending: pending 2")
    await migrate_organiser_group(stage)

    new_id = await stage.bot.progress.edit(old_id, "Announcement 1 finished: sent 2")

    latest = bot_messages(stage, SUPERGROUP)[-1]
    assert shown(latest) == "Announcement 1 finished: sent 2"
    assert new_id == latest["message_id"]
