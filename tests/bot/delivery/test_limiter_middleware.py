"""The request middleware reports every granted send back to the limiter, whatever its outcome."""

from __future__ import annotations

import time

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)

from bot.delivery.limiter import Limiter, Priority, RateConfig
from bot.delivery.middleware import LimiterMiddleware, send_priority
from bot.emulator import BotAPIEmulator, FaultKind, RateLimits

TOKEN = "123456:TEST-secret_token"


@pytest.fixture
async def wired():
    limiter = Limiter(RateConfig())
    async with BotAPIEmulator(limits=RateLimits()) as emulator:
        session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
        bot = Bot(TOKEN, session=session)
        bot.session.middleware(LimiterMiddleware(limiter))
        yield emulator, bot, limiter
        await bot.session.close()
    await limiter.close()


async def test_answered_send_not_in_flight(wired):
    emulator, bot, limiter = wired
    alice = emulator.user(1001, "Alice")

    await bot.send_message(alice.id, "hello")

    assert limiter.sends_in_flight == 0
    assert len(emulator.messages(alice.id)) == 1


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (FaultKind.FLOOD, TelegramRetryAfter),
        (FaultKind.BLOCKED, TelegramForbiddenError),
        (FaultKind.BAD_REQUEST, TelegramBadRequest),
        (FaultKind.DROP, TelegramNetworkError),
        (FaultKind.LOST_RESPONSE, TelegramNetworkError),
    ],
)
async def test_failed_send_not_in_flight(wired, kind, error):
    emulator, bot, limiter = wired
    alice = emulator.user(1001, "Alice")
    emulator.faults.add(method="sendMessage", kind=kind, chat_id=alice.id, retry_after=1)
    token = send_priority.set(Priority.BROADCAST)
    try:
        with pytest.raises(error):
            await bot.send_message(alice.id, "hello")
    finally:
        send_priority.reset(token)

    assert limiter.sends_in_flight == 0


async def test_sequential_sends_not_held(wired):
    # Without reported responses, the 31st send would wait for the in-flight expiry.
    emulator, bot, limiter = wired
    users = [emulator.user(2000 + n, f"Guest {n}") for n in range(31)]
    started = time.monotonic()

    for user in users:
        await bot.send_message(user.id, "doors open")

    # 31 slots at 29.4 a second take just over a second; the expiry would add ten.
    assert time.monotonic() - started < 5
    assert limiter.sends_in_flight == 0
    assert emulator.stats.http_429 == 0
