"""Getting updates: getUpdates semantics, a polling aiogram dispatcher, and fast shutdown."""

import asyncio
import time

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramConflictError
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import Message

from bot.emulator import BotAPIEmulator


async def test_get_updates_returns_queued_update(bot, emu, alice):
    update_id = emu.send_text(alice, "hello")
    updates = await bot.get_updates()
    assert [update.update_id for update in updates] == [update_id]
    assert updates[0].message.text == "hello"


async def test_offset_confirms_updates(bot, emu, alice):
    first = emu.send_text(alice, "one")
    second = emu.send_text(alice, "two")
    updates = await bot.get_updates(offset=first + 1)
    assert [update.update_id for update in updates] == [second]
    assert [update["update_id"] for update in emu.updates.pending] == [second]


async def test_negative_offset_keeps_last(bot, emu, alice):
    for text in ("one", "two", "three"):
        emu.send_text(alice, text)
    updates = await bot.get_updates(offset=-1)
    assert [update.message.text for update in updates] == ["three"]


async def test_limit_caps_batch(bot, emu, alice):
    for number in range(5):
        emu.send_text(alice, f"message {number}")
    assert len(await bot.get_updates(limit=2)) == 2


async def test_allowed_updates_filters(bot, emu, alice):
    await bot.send_message(alice.id, "Claim?")
    emu.send_text(alice, "text")
    emu.press_button(alice, emu.messages(alice.id)[0], "claim")
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [update.callback_query is not None for update in updates] == [True]


async def test_long_poll_wakes_on_update(bot, emu, alice):
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    emu.send_text(alice, "wake up")
    updates = await asyncio.wait_for(poll, 5)
    assert updates[0].message.text == "wake up"
    assert time.monotonic() - started < 1


async def test_long_poll_times_out_empty(bot):
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9


async def test_second_poller_conflicts_first(bot):
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 5)
    assert await second == []


async def test_get_updates_with_webhook_conflicts(bot):
    await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()


async def test_stop_releases_long_poll(token):
    emu = BotAPIEmulator()
    await emu.start()
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await emu.stop()
    assert await asyncio.wait_for(poll, 5) == []
    assert time.monotonic() - started < 2
    await bot.session.close()


async def test_dispatcher_replies_to_start(bot, emu, alice):
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(f"payload={command.args}")

    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=5)
    )
    emu.send_start(alice, "e42")
    reply = await emu.wait_for_message(alice.id, timeout=10)
    await dispatcher.stop_polling()
    await asyncio.wait_for(polling, 10)

    assert reply["text"] == "payload=e42"
    assert emu.calls_to("sendMessage")[-1].params["chat_id"] == alice.id


async def test_dispatcher_command_with_bot_username(bot, emu, alice):
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("started")

    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=5)
    )
    emu.send_text(alice, "/start@micropop_bot")
    reply = await emu.wait_for_message(alice.id, timeout=10)
    await dispatcher.stop_polling()
    await asyncio.wait_for(polling, 10)

    assert reply["text"] == "started"
