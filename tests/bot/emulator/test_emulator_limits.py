"""Rate limits: 429 responses with retry_after, flood waits, and the measured send rates."""

import asyncio

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter

from bot.emulator import BotAPIEmulator, RateLimits
from bot.emulator.limits import AcceptedSend, SendStats


@pytest.fixture
async def limited(request, token):
    limits = getattr(request, "param", RateLimits())
    async with BotAPIEmulator(limits=limits) as emulator:
        session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
        aiogram_bot = Bot(token, session=session)
        yield emulator, aiogram_bot
        await aiogram_bot.session.close()


async def test_private_chat_second_send_429(limited):
    emu, bot = limited
    alice = emu.user(1001, "Alice")
    await bot.send_message(alice.id, "one")
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(alice.id, "two")

    assert raised.value.retry_after == 1
    assert emu.stats.http_429 == 1
    assert emu.stats.rejected_by == {"private": 1}
    assert len(emu.messages(alice.id)) == 1


async def test_private_chat_after_a_second(limited):
    emu, bot = limited
    alice = emu.user(1001, "Alice")
    await bot.send_message(alice.id, "one")
    await asyncio.sleep(1.05)
    assert (await bot.send_message(alice.id, "two")).text == "two"


async def test_edits_count_toward_limit(limited):
    emu, bot = limited
    alice = emu.user(1001, "Alice")
    sent = await bot.send_message(alice.id, "one")
    with pytest.raises(TelegramRetryAfter):
        await bot.edit_message_text("two", chat_id=alice.id, message_id=sent.message_id)


async def test_other_chats_unaffected(limited):
    emu, bot = limited
    alice, bob = emu.user(1001, "Alice"), emu.user(1002, "Bob")
    await bot.send_message(alice.id, "one")
    assert (await bot.send_message(bob.id, "one")).text == "one"


@pytest.mark.parametrize("limited", [RateLimits(private_per_s=2, private_burst=1)], indirect=True)
async def test_flood_wait_outlasts_window(limited):
    emu, bot = limited
    alice = emu.user(1001, "Alice")
    await bot.send_message(alice.id, "one")
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(alice.id, "too soon")
    # The window frees after 0.5 s, but the flood wait lasts the whole retry_after.
    await asyncio.sleep(0.6)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(alice.id, "still waiting")
    await asyncio.sleep(raised.value.retry_after - 0.5)

    assert (await bot.send_message(alice.id, "after wait")).text == "after wait"
    assert emu.stats.http_429 == 2


@pytest.mark.parametrize(
    "limited", [RateLimits(global_per_s=3, private_per_s=100, private_burst=100)], indirect=True
)
async def test_global_limit(limited):
    emu, bot = limited
    users = [emu.user(3000 + number, f"User {number}") for number in range(4)]
    for user in users[:3]:
        await bot.send_message(user.id, "ok")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(users[3].id, "fourth")
    assert emu.stats.max_rate() == 3
    assert emu.stats.rejected_by == {"global": 1}


@pytest.mark.parametrize("limited", [RateLimits(group_per_min=2)], indirect=True)
async def test_group_limit_per_minute(limited):
    emu, bot = limited
    group = emu.group(-1007, "Crew")
    await bot.send_message(group.id, "one")
    await asyncio.sleep(1.05)
    await bot.send_message(group.id, "two")
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(group.id, "three")
    assert 57 <= raised.value.retry_after <= 60
    assert emu.stats.rejected_by == {"group": 1}


@pytest.mark.parametrize("limited", [RateLimits(enforce=False)], indirect=True)
async def test_unenforced_limits_still_measure(limited):
    emu, bot = limited
    alice = emu.user(1001, "Alice")
    for number in range(5):
        await bot.send_message(alice.id, str(number))
    assert emu.stats.http_429 == 0
    assert emu.stats.max_rate(alice.id) == 5


async def test_no_limits_no_429(bot, emu, alice):
    for number in range(40):
        await bot.send_message(alice.id, str(number))
    assert emu.stats.http_429 == 0
    assert emu.stats.max_chat_rate(chat_type="private") == 40


def stats_at(*sends: tuple[float, int]) -> SendStats:
    stats = SendStats()
    for at, chat_id in sends:
        stats.accepted.append(AcceptedSend(at, chat_id, "private", "sendMessage"))
    return stats


def test_max_rate_sliding_window():
    stats = stats_at((0.0, 1), (0.5, 2), (0.99, 1), (1.5, 2), (2.6, 1))
    assert stats.max_rate() == 3
    assert stats.max_rate(window=2.0) == 4


def test_max_rate_window_is_half_open():
    stats = stats_at((0.0, 1), (1.0, 1), (2.0, 1))
    assert stats.max_rate() == 1


def test_max_chat_rate_per_chat():
    stats = stats_at((0.0, 1), (0.1, 2), (0.2, 2), (0.3, 1), (0.4, 2))
    assert stats.max_rate(chat_id=2) == 3
    assert stats.max_chat_rate() == 3


def test_sends_per_second():
    stats = stats_at((10.0, 1), (10.4, 1), (11.2, 2), (13.9, 1))
    assert stats.sends_per_second() == [2, 1, 0, 1]
    assert stats.sends_per_second(chat_id=2) == [1]


async def test_set_limits_at_runtime(bot, emu, alice):
    await bot.send_message(alice.id, "one")
    emu.set_limits(RateLimits())
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(alice.id, "two")
