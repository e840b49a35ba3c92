"""The organiser group's stored chat id and the audit log."""

from __future__ import annotations

import asyncio

from bot.services import organisers

GROUP = -1001000000001
SUPERGROUP = -1002000000002


async def test_chat_id_seeded_from_settings(db):
    assert await organisers.chat_id(db, GROUP) == GROUP


async def test_chat_id_follows_migration(db):
    await organisers.chat_id(db, GROUP)

    moved = await organisers.move_chat(db, GROUP, SUPERGROUP)

    assert moved
    assert await organisers.chat_id(db, GROUP) == SUPERGROUP


async def test_migration_of_other_chat_ignored(db):
    await organisers.chat_id(db, GROUP)

    moved = await organisers.move_chat(db, -100555, SUPERGROUP)

    assert not moved
    assert await organisers.chat_id(db, GROUP) == GROUP


async def test_replayed_migration_changes_nothing(db):
    await organisers.chat_id(db, GROUP)
    await organisers.move_chat(db, GROUP, SUPERGROUP)

    again = await organisers.move_chat(db, GROUP, SUPERGROUP)

    assert not again
    assert await organisers.chat_id(db, GROUP) == SUPERGROUP


async def test_chat_ids_keep_previous_ids(db):
    await organisers.chat_id(db, GROUP)
    await organisers.move_chat(db, GROUP, SUPERGROUP)

    assert await organisers.chat_ids(db, GROUP) == [SUPERGROUP, GROUP]


async def test_new_configured_group_forgets_previous_ids(db):
    await organisers.chat_id(db, GROUP)
    await organisers.move_chat(db, GROUP, SUPERGROUP)

    assert await organisers.chat_ids(db, -1003) == [-1003]


async def test_new_configured_group_replaces_migrated_id(db):
    await organisers.chat_id(db, GROUP)
    await organisers.move_chat(db, GROUP, SUPERGROUP)

    assert await organisers.chat_id(db, -1003) == -1003


async def test_concurrent_seeding_agrees(db):
    results = await asyncio.gather(*(organisers.chat_id(db, GROUP) for _ in range(8)))

    assert set(results) == {GROUP}


async def test_audit_record_listed_newest_first(db):
    await organisers.record(db, 7, "Olga", GROUP, "announce", "Doors open", "ok")
    await organisers.record(db, 8, "Mallory", 8, "announce", "spam", "rejected")

    entries = await organisers.recent(db)

    assert [entry.actor_name for entry in entries] == ["Mallory", "Olga"]
    assert entries[0].result == "rejected"
    assert entries[1].detail == "Doors open"
    assert entries[1].at.tzinfo is not None


async def test_audit_detail_truncated(db):
    await organisers.record(db, 7, "Olga", GROUP, "announce", "x" * 5000, "ok")

    (entry,) = await organisers.recent(db)

    assert len(entry.detail) == organisers.MAX_DETAIL
