"""Webhook delivery: secret header, retries, and methods returned in the webhook response."""

import asyncio
import json

import aiohttp
import pytest
from aiogram import Dispatcher
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandStart
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.emulator import BotAPIEmulator

SECRET = "s3cret-token_42"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records requests and fails the first `failures`."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[dict, str | None]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((body, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        if len(self.requests) <= self.failures:
            return web.Response(status=500)
        return web.json_response({})

    async def __aenter__(self) -> "Receiver":
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.fixture
async def fast_emu():
    async with BotAPIEmulator(webhook_retry_delays=(0.05,)) as emulator:
        yield emulator


async def test_webhook_receives_update_with_secret(bot, emu, alice):
    async with Receiver() as receiver:
        await bot.set_webhook(receiver.url, secret_token=SECRET)
        update_id = emu.send_text(alice, "hi")
        await emu.wait_for(lambda: receiver.requests and not emu.updates.pending)

    body, secret = receiver.requests[0]
    assert body["update_id"] == update_id
    assert body["message"]["text"] == "hi"
    assert secret == SECRET


async def test_webhook_retries_failed_delivery(fast_emu, token):
    alice = fast_emu.user(1001, "Alice")
    async with Receiver(failures=2) as receiver:
        await _set_webhook(fast_emu, token, receiver.url)
        fast_emu.send_text(alice, "retry me")
        await fast_emu.wait_for(
            lambda: len(receiver.requests) == 3 and not fast_emu.updates.pending
        )

    assert [body["message"]["text"] for body, _ in receiver.requests] == ["retry me"] * 3
    assert fast_emu.webhook.last_error_message == "Wrong response from the webhook: 500"


async def test_webhook_info_reports_pending(bot, emu, alice):
    await bot.set_webhook("http://127.0.0.1:9/unreachable", max_connections=5)
    emu.send_text(alice, "waiting")
    await asyncio.sleep(0.2)
    info = await bot.get_webhook_info()

    assert info.url == "http://127.0.0.1:9/unreachable"
    assert info.pending_update_count == 1
    assert info.max_connections == 5
    assert info.last_error_message.startswith("Connection failed")


async def test_delete_webhook_drops_pending(bot, emu, alice):
    await bot.set_webhook("http://127.0.0.1:9/unreachable")
    emu.send_text(alice, "lost")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == []


async def test_set_webhook_rejects_other_hosts(bot):
    with pytest.raises(TelegramBadRequest, match="bad webhook"):
        await bot.set_webhook("https://example.com/hook")


async def test_set_webhook_rejects_bad_secret(bot):
    with pytest.raises(TelegramBadRequest, match="secret token contains unallowed characters"):
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="has space")


async def test_method_in_webhook_response_runs(bot, emu, alice):
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message):
        return message.answer("via response")

    app = web.Application()
    handler = SimpleRequestHandler(
        dispatcher, bot, secret_token=SECRET, handle_in_background=False
    )
    handler.register(app, path="/webhook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
    try:
        await bot.set_webhook(url, secret_token=SECRET)
        emu.send_start(alice)
        reply = await emu.wait_for_message(alice.id)
    finally:
        await runner.cleanup()

    call = emu.calls_to("sendMessage")[-1]
    assert reply["text"] == "via response"
    assert call.source == "webhook"
    assert call.status == 200


async def test_webhook_keeps_chat_order(fast_emu, token):
    users = [fast_emu.user(2000 + number, f"User {number}") for number in range(3)]
    async with Receiver() as receiver:
        await _set_webhook(fast_emu, token, receiver.url)
        for number in range(5):
            for user in users:
                fast_emu.send_text(user, str(number))
        await fast_emu.wait_for(lambda: len(receiver.requests) == 15)

    for user in users:
        texts = [
            body["message"]["text"]
            for body, _ in receiver.requests
            if body["message"]["chat"]["id"] == user.id
        ]
        assert texts == ["0", "1", "2", "3", "4"]


async def _set_webhook(emu: BotAPIEmulator, token: str, url: str, **fields: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{emu.base_url}/bot{token}/setWebhook", data={"url": url, **fields}
        ) as response:
            assert json.loads(await response.text())["ok"]


async def test_webhook_skips_unsubscribed_types(fast_emu, token):
    alice = fast_emu.user(1001, "Alice")
    async with Receiver() as receiver:
        await _set_webhook(fast_emu, token, receiver.url, allowed_updates='["callback_query"]')
        fast_emu.send_text(alice, "not wanted")
        fast_emu.press_button(alice, {"message_id": 1, "date": 0, "chat": {"id": 1001}}, "x")
        await fast_emu.wait_for(lambda: receiver.requests and not fast_emu.updates.pending)

    assert len(receiver.requests) == 1
    assert "callback_query" in receiver.requests[0][0]
