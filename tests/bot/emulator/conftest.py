"""Fixtures: a running emulator and a real aiogram Bot that talks to it over HTTP."""

import io

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from PIL import Image

from bot.emulator import BotAPIEmulator

BOT_TOKEN = "123456:TEST-secret_token"


@pytest.fixture
def token() -> str:
    return BOT_TOKEN


@pytest.fixture
def bot_id() -> int:
    return int(BOT_TOKEN.split(":")[0])


@pytest.fixture
async def emu():
    async with BotAPIEmulator() as emulator:
        yield emulator


@pytest.fixture
async def bot(emu):
    aiogram_bot = Bot(
        BOT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    )
    yield aiogram_bot
    await aiogram_bot.session.close()


@pytest.fixture
def alice(emu):
    return emu.user(1001, "Alice", username="alice")


@pytest.fixture
def bob(emu):
    return emu.user(1002, "Bob", last_name="Builder")


@pytest.fixture
def organisers(emu):
    return emu.group(-1001500, "Organisers")


@pytest.fixture
def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()
