"""A bare aiogram echo bot: the baseline that the benchmarks compare micropop with.

Run as a script (`python bench/bare_bot.py BASE_URL`) for start-up timing, or import
`create_bare_bot` to run it in process.
"""

from __future__ import annotations

import asyncio
import sys

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

TOKEN = "4343:bare-echo-token"


def create_bare_bot(base_url: str) -> tuple[Bot, Dispatcher]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    return bot, dispatcher


async def main(base_url: str) -> None:
    bot, dispatcher = create_bare_bot(base_url)
    await dispatcher.start_polling(bot, polling_timeout=10)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
