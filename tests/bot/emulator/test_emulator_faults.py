"""Injected faults seen through aiogram's exceptions: each kind, counting, persistent faults."""

import time

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.emulator import FaultKind


async def test_blocked(bot, emu, alice):
    emu.faults.add(kind="blocked")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(alice.id, "hi")


async def test_user_deactivated(bot, emu, alice):
    emu.faults.add(kind="user_deactivated")
    with pytest.raises(TelegramForbiddenError, match="user is deactivated"):
        await bot.send_message(alice.id, "hi")


async def test_bad_request_description(bot, emu, alice):
    emu.faults.add(kind="bad_request", description="Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(alice.id, "hi")


async def test_too_long(bot, emu, alice):
    emu.faults.add(kind=FaultKind.TOO_LONG)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(alice.id, "hi")


async def test_migrate(bot, emu, organisers):
    emu.faults.add(kind="migrate", migrate_to_chat_id=-1009999)
    with pytest.raises(TelegramMigrateToChat) as raised:
        await bot.send_message(organisers.id, "hi")
    assert raised.value.migrate_to_chat_id == -1009999


async def test_flood(bot, emu, alice):
    emu.faults.add(kind="flood", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(alice.id, "hi")
    assert raised.value.retry_after == 7
    assert emu.stats.http_429 == 1


async def test_server_error(bot, emu, alice):
    emu.faults.add(kind="server_error", status=502)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_message(alice.id, "hi")
    assert emu.calls_to("sendMessage")[-1].status == 502


async def test_drop_sends_nothing(bot, emu, alice):
    emu.faults.add(kind="drop")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(alice.id, "hi")
    assert emu.messages(alice.id) == []
    assert emu.calls_to("sendMessage")[-1].fault == "drop"


async def test_lost_response_delivers(bot, emu, alice):
    emu.faults.add(kind="lost_response")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(alice.id, "hi")
    assert [message["text"] for message in emu.messages(alice.id)] == ["hi"]
    assert emu.calls_to("sendMessage")[-1].status == 0


async def test_delay(bot, emu, alice):
    emu.faults.add(kind="delay", delay=0.5)
    started = time.monotonic()
    await bot.send_message(alice.id, "slow")
    assert time.monotonic() - started >= 0.5


async def test_fault_fires_count_times(bot, emu, alice):
    emu.faults.add(kind="server_error", count=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(alice.id, "hi")
    assert (await bot.send_message(alice.id, "third")).text == "third"


async def test_fault_skips_first_requests(bot, emu, alice):
    emu.faults.add(kind="blocked", skip=1)
    await bot.send_message(alice.id, "first")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(alice.id, "second")


async def test_fault_only_for_its_chat(bot, emu, alice, bob):
    emu.faults.add(kind="blocked", chat_id=bob.id, count=None)
    await bot.send_message(alice.id, "fine")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(bob.id, "blocked")


async def test_fault_only_for_its_method(bot, emu, alice):
    emu.faults.add(kind="server_error", method="sendPhoto")
    assert (await bot.send_message(alice.id, "text passes")).text == "text passes"


async def test_block_chat_persists(bot, emu, alice):
    emu.block_chat(alice.id)
    for _ in range(3):
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(alice.id, "hi")


async def test_unblock_chat(bot, emu, alice):
    emu.block_chat(alice.id)
    emu.block_chat(alice.id, blocked=False)
    assert (await bot.send_message(alice.id, "back")).text == "back"


async def test_offline_aborts_every_request(bot, emu):
    emu.set_offline(True)
    with pytest.raises(TelegramNetworkError):
        await bot.get_me()
    emu.set_offline(False)
    assert (await bot.get_me()).username == "micropop_bot"


async def test_migrate_group_queues_service_messages(bot, emu):
    emu.group(-4242, "Old crew", type="group")
    new_id = emu.migrate_group(-4242)
    updates = await bot.get_updates()

    assert new_id == -1004242
    assert updates[0].message.migrate_to_chat_id == new_id
    assert updates[1].message.migrate_from_chat_id == -4242
    assert updates[1].message.chat.type == "supergroup"


async def test_migrated_group_rejects_sends(bot, emu):
    emu.group(-4242, "Old crew", type="group")
    new_id = emu.migrate_group(-4242)
    with pytest.raises(TelegramMigrateToChat) as raised:
        await bot.send_message(-4242, "hi")
    assert raised.value.migrate_to_chat_id == new_id
    assert (await bot.send_message(new_id, "hi")).chat.id == new_id


async def test_migrate_supergroup_raises(emu, organisers):
    with pytest.raises(ValueError, match="only a basic group can migrate"):
        emu.migrate_group(organisers.id)


async def test_block_group_means_kicked(bot, emu, organisers):
    emu.block_chat(organisers.id)
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the supergroup chat"):
        await bot.send_message(organisers.id, "hi")
