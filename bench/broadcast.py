"""Broadcast delivery: micropop against the usual recipes, on one emulator enforcing limits.

For each audience size, in one run: micropop's outbox (rate against Telegram's 30/s ceiling,
429s, lost and duplicate deliveries, p95 reply time to other attendees' /start during the
broadcast, peak RSS); the usual aiogram recipe (a loop with a fixed 0.05 s sleep); and
python-telegram-bot's AIORateLimiter. Then the time from an announcement's scheduled moment to
its first send, over several scheduled announcements.

    .venv/bin/python bench/broadcast.py [--sizes 500,5000] [--scheduled 20]

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import psutil

from bot.db.types import utcnow
from bot.emulator import BotAPIEmulator, RateLimits
from bot.rehearsal.stage import Stage
from bot.services import announcements, attendees, events
from bot.services.attendees import Arrival
from bot.services.events import EventFields

CEILING = 30.0
TEXT = "Broadcast bench"


class PeakMemory:
    """Samples this process's RSS every 50 ms in a thread; `peak_mb` is the maximum seen."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self.peak = psutil.Process().memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def delivery_figures(emulator: BotAPIEmulator, chats: list[int], text: str) -> dict:
    sends = [
        call
        for call in emulator.calls_to("sendMessage")
        if call.ok and call.params.get("text") == text
    ]
    copies = Counter(call.chat_id for call in sends)
    times = sorted(call.at for call in sends)
    duration = times[-1] - times[0] if len(times) > 1 else float("nan")
    # Everything Telegram counted in the same window: replies to visitors share the budget.
    counted = [
        send for send in emulator.stats.accepted if times and times[0] <= send.at <= times[-1]
    ]
    return {
        "delivered": len(copies),
        "lost": sum(1 for chat in chats if copies[chat] == 0),
        "duplicates": sum(count - 1 for count in copies.values() if count > 1),
        "rate_per_s": round((len(sends) - 1) / duration, 2) if len(sends) > 1 else 0.0,
        "broadcast_rate_vs_ceiling": _share(len(sends), duration),
        "rate_vs_ceiling": _share(len(counted), duration),
        "http_429": emulator.stats.http_429,
        "rejected_by": dict(emulator.stats.rejected_by),
        "max_rate_1s": emulator.stats.max_rate(),
        "seconds": round(duration, 1),
    }


def _share(sends: int, duration: float) -> float:
    """Sends per second over the window, as a share of Telegram's 30/s ceiling."""
    if sends < 2 or not duration > 0:
        return 0.0
    return round((sends - 1) / duration / CEILING, 3)


async def seat(stage: Stage, count: int, first_id: int) -> list[int]:
    event = await events.active_event(stage.bot.db) or await events.create_event(
        stage.bot.db, EventFields(title="Bench night")
    )
    chats = list(range(first_id, first_id + count))
    async with stage.bot.db.transaction() as session:
        for chat in chats:
            stage.emulator.user(chat, f"Guest {chat}")
            await attendees.register_in(
                session, event.id, Arrival(chat, chat, "Guest", None, "en", "qr")
            )
    return chats


async def micropop_broadcast(directory: Path, size: int) -> dict:
    async with Stage.on_sqlite(directory, limits=RateLimits()) as stage:
        chats = await seat(stage, size, first_id=100_000)
        visitors = [stage.emulator.user(900_000 + n, f"Visitor {n}") for n in range(400)]
        with PeakMemory() as memory:
            view = await announcements.create(
                stage.bot.db, stage.bot.scheduler, text=TEXT, created_by="bench"
            )
            replies = await _visit_while_sending(stage, view.id, chats, visitors)
        figures = delivery_figures(stage.emulator, chats, TEXT)
        figures |= {
            "interactive_p95_s": round(percentile(replies, 0.95), 3),
            "interactive_replies": len(replies),
            "peak_rss_mb": memory.peak_mb,
        }
        return figures


async def _visit_while_sending(
    stage: Stage, announcement_id: int, chats: list[int], visitors
) -> list[float]:
    """Send /start from other attendees twice a second until the audience has the message.

    Each visitor also gets the announcement (store-and-forward), so the announcement is done
    only after the last visitor's copy.
    """
    replies: list[float] = []
    pending: list[asyncio.Task[None]] = []

    async def visit(user) -> None:
        sent = time.perf_counter()
        stage.emulator.send_text(user, "/start")
        await stage.emulator.wait_for(lambda: stage.emulator.messages(user.id), timeout=60)
        replies.append(time.perf_counter() - sent)

    audience = set(chats)

    def audience_served() -> bool:
        served = {
            call.chat_id
            for call in stage.emulator.calls_to("sendMessage")
            if call.ok and call.chat_id in audience and call.params.get("text") == TEXT
        }
        return len(served) == len(audience)

    for user in visitors:
        if audience_served():
            break
        pending.append(asyncio.create_task(visit(user)))
        await asyncio.sleep(0.5)
    while (await announcements.get(stage.bot.db, announcement_id)).status != "done":
        await asyncio.sleep(0.2)
    await asyncio.gather(*pending)
    return replies


async def aiogram_recipe(size: int) -> dict:
    """The common aiogram broadcast loop: send, sleep 0.05 s, next."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.exceptions import TelegramAPIError

    async with BotAPIEmulator(limits=RateLimits()) as emulator:
        chats = [emulator.user(100_000 + n, "Guest").id for n in range(size)]
        session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
        bot = Bot("5151:aiogram-recipe", session=session)
        errors = 0
        with PeakMemory() as memory:
            for chat in chats:
                try:
                    await bot.send_message(chat, TEXT)
                except TelegramAPIError:
                    errors += 1
                await asyncio.sleep(0.05)
        await session.close()
        return delivery_figures(emulator, chats, TEXT) | {
            "errors": errors,
            "peak_rss_mb": memory.peak_mb,
        }


async def ptb_rate_limiter(size: int) -> dict:
    """python-telegram-bot's AIORateLimiter, every send started at once."""
    from telegram.error import TelegramError
    from telegram.ext import AIORateLimiter, ApplicationBuilder

    async with BotAPIEmulator(limits=RateLimits()) as emulator:
        chats = [emulator.user(100_000 + n, "Guest").id for n in range(size)]
        application = (
            ApplicationBuilder()
            .token("5252:ptb-rate-limiter")
            .base_url(f"{emulator.base_url}/bot")
            .base_file_url(f"{emulator.base_url}/file/bot")
            .rate_limiter(AIORateLimiter())
            .connection_pool_size(64)
            .build()
        )
        await application.initialize()
        errors = 0

        async def send(chat: int) -> None:
            nonlocal errors
            try:
                await application.bot.send_message(chat, TEXT)
            except TelegramError:
                errors += 1

        with PeakMemory() as memory:
            await asyncio.gather(*(send(chat) for chat in chats))
        await application.shutdown()
        return delivery_figures(emulator, chats, TEXT) | {
            "errors": errors,
            "peak_rss_mb": memory.peak_mb,
        }


# Announcements follow each other this far apart. They go to the same attendees, and
# Telegram allows one message a second per private chat (the limiter keeps 0.9 of that). One
# second apart, each would wait for the previous one, and the 20th would start 2 s late
# because of the per-chat limit, not the scheduler.
SCHEDULE_SPACING_S = 2


async def schedule_to_first_send(directory: Path, count: int) -> dict:
    """Schedule `count` announcements 2 s apart; measure each one's first send."""
    async with Stage.on_sqlite(directory, limits=RateLimits()) as stage:
        await seat(stage, 5, first_id=200_000)
        start = utcnow() + timedelta(seconds=3)
        planned = {}
        for n in range(count):
            view = await announcements.create(
                stage.bot.db,
                stage.bot.scheduler,
                text=f"Scheduled {n}",
                created_by="bench",
                scheduled_for=start + timedelta(seconds=n * SCHEDULE_SPACING_S),
            )
            planned[f"Scheduled {n}"] = view.scheduled_for
        # Emulator call times are monotonic; anchor them to the wall clock once.
        offset = time.time() - time.monotonic()

        def all_started() -> bool:
            sent = {call.params.get("text") for call in stage.emulator.calls_to("sendMessage")}
            return set(planned) <= sent

        await stage.emulator.wait_for(all_started, timeout=count * SCHEDULE_SPACING_S + 60)
        firsts: dict[str, float] = {}
        for call in stage.emulator.calls_to("sendMessage"):
            text = call.params.get("text")
            if text in planned and text not in firsts:
                firsts[text] = call.at + offset
        delays = [firsts[text] - planned[text].timestamp() for text in planned]
        return {
            "announcements": count,
            "p50_s": round(percentile(delays, 0.50), 3),
            "p99_s": round(percentile(delays, 0.99), 3),
            "max_s": round(max(delays), 3),
        }


RECIPES = ("micropop", "aiogram", "ptb")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,5000", help="audience sizes, comma-separated")
    parser.add_argument("--scheduled", type=int, default=20, help="scheduled announcements")
    parser.add_argument(
        "--recipes",
        default=",".join(RECIPES),
        help=f"senders to measure, comma-separated, from: {', '.join(RECIPES)}",
    )
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    recipes = [recipe.strip() for recipe in options.recipes.split(",") if recipe.strip()]
    unknown = sorted(set(recipes) - set(RECIPES))
    if unknown or "micropop" not in recipes:
        parser.error(
            f"--recipes {options.recipes!r}: use micropop and any of {', '.join(RECIPES)}"
        )

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="micropop-bench-") as scratch:
        for size in sizes:
            directory = Path(scratch) / f"size-{size}"
            directory.mkdir()
            results[f"micropop_{size}"] = await micropop_broadcast(directory, size)
            if "aiogram" in recipes:
                results[f"aiogram_sleep_{size}"] = await aiogram_recipe(size)
            if "ptb" in recipes:
                results[f"ptb_aioratelimiter_{size}"] = await ptb_rate_limiter(size)
            print(
                json.dumps(
                    {str(size): {k: v for k, v in results.items() if k.endswith(f"_{size}")}}
                ),
                flush=True,
            )
        directory = Path(scratch) / "scheduled"
        directory.mkdir()
        scheduled = await schedule_to_first_send(directory, options.scheduled)

    largest = results[f"micropop_{max(sizes)}"]
    figures = {
        "rate_vs_ceiling": largest["rate_vs_ceiling"],
        "http_429": largest["http_429"],
        "lost": largest["lost"],
        "duplicates": largest["duplicates"],
        "interactive_p95_s": largest["interactive_p95_s"],
        "schedule_to_first_send_p99_s": scheduled["p99_s"],
        "peak_rss_mb": largest["peak_rss_mb"],
        "scheduled": scheduled,
        **results,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
