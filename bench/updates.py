"""Update handling: micropop's full stack against a bare aiogram echo bot, in one run.

Measures /start throughput (a burst of distinct attendees), one-at-a-time latency p50/p99, and
start-up time to the first getUpdates, for both bots against the same local Bot API emulator.
Telegram's send limits are lifted for both (the emulator enforces none and micropop's limiter
ceiling is raised), because this measures handling, not Telegram's 30 messages a second.

    .venv/bin/python bench/updates.py [--burst 2000] [--sequential 300]

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.db import migrate
from bot.db.engine import create_database
from bot.emulator import BotAPIEmulator
from bot.rehearsal.stage import BOT_TOKEN, ORGANISER_CHAT_ID, Stage
from bot.services import events
from bot.services.events import EventFields

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_bot import create_bare_bot  # noqa: E402

UNLIMITED = {
    "rate_global_per_s": 1_000_000.0,
    "rate_private_per_s": 1_000_000.0,
    "rate_group_per_min": 1_000_000.0,
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def drive(emulator: BotAPIEmulator, burst: int, sequential: int, first_id: int) -> dict:
    """Send a burst of /start from distinct users, then one at a time; measure replies."""
    users = [emulator.user(first_id + n, f"Guest {n}") for n in range(burst + sequential)]
    replies_before = len(emulator.calls_to("sendMessage"))

    started = time.perf_counter()
    for user in users[:burst]:
        emulator.send_text(user, "/start")
    await emulator.wait_for(
        lambda: len(emulator.calls_to("sendMessage")) - replies_before >= burst, timeout=300
    )
    elapsed = time.perf_counter() - started

    latencies = []
    for user in users[burst:]:
        sent = time.perf_counter()
        emulator.send_text(user, "/start")
        await emulator.wait_for(lambda u=user: emulator.messages(u.id), timeout=30)
        latencies.append(time.perf_counter() - sent)
    return {
        "updates_per_s": burst / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def measure_full_stack(directory: Path, burst: int, sequential: int) -> dict:
    async with Stage.on_sqlite(directory, **UNLIMITED) as stage:
        await events.create_event(stage.bot.db, EventFields(title="Bench night"))
        return await drive(stage.emulator, burst, sequential, first_id=10_000)


async def measure_bare(burst: int, sequential: int) -> dict:
    async with BotAPIEmulator() as emulator:
        bot, dispatcher = create_bare_bot(emulator.base_url)
        polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
        try:
            return await drive(emulator, burst, sequential, first_id=10_000)
        finally:
            await dispatcher.stop_polling()
            await polling


async def startup_seconds(command: list[str], environment: dict[str, str]) -> float:
    """Time from process start to its first getUpdates call."""
    async with BotAPIEmulator() as emulator:
        environment = environment | {"MICROPOP_API_BASE_URL": emulator.base_url}
        arguments = [argument.replace("{base}", emulator.base_url) for argument in command]
        # The emulator records a call when it answers. With an update already waiting, the
        # first getUpdates is answered the moment it arrives instead of after its long poll.
        emulator.send_text(emulator.user(1, "Early guest"), "/start")
        started = time.perf_counter()
        process = subprocess.Popen(arguments, env=os.environ | environment)
        try:
            await emulator.wait_for(lambda: emulator.calls_to("getUpdates"), timeout=60)
            return time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=30)


async def measure_startups(directory: Path, rounds: int) -> tuple[float, float]:
    database_url = f"sqlite+aiosqlite:///{directory / 'startup.sqlite3'}"
    database = create_database(database_url)
    await migrate.upgrade(database)
    await database.dispose()
    full_env = {
        "MICROPOP_BOT_TOKEN": BOT_TOKEN,
        "MICROPOP_DATABASE_URL": database_url,
        "MICROPOP_ORGANISER_CHAT_ID": str(ORGANISER_CHAT_ID),
        "MICROPOP_WEB_LISTEN": "127.0.0.1:0",
        "MICROPOP_LOG_LEVEL": "WARNING",
    }
    bare_script = str(Path(__file__).resolve().parent / "bare_bot.py")
    full, bare = [], []
    for _ in range(rounds):
        full.append(await startup_seconds([sys.executable, "-m", "bot.cli", "run"], full_env))
        bare.append(await startup_seconds([sys.executable, bare_script, "{base}"], {}))
    return statistics.median(full), statistics.median(bare)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=2000, help="updates in the burst")
    parser.add_argument("--sequential", type=int, default=300, help="one-at-a-time updates")
    parser.add_argument("--startup-rounds", type=int, default=3, help="start-ups per bot")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="micropop-bench-") as scratch:
        directory = Path(scratch)
        bare = await measure_bare(options.burst, options.sequential)
        full = await measure_full_stack(directory, options.burst, options.sequential)
        full_start, bare_start = await measure_startups(directory, options.startup_rounds)

    figures = {
        "burst": options.burst,
        "sequential": options.sequential,
        "full_updates_per_s": round(full["updates_per_s"], 1),
        "bare_updates_per_s": round(bare["updates_per_s"], 1),
        "full_p50_ms": round(full["p50_ms"], 2),
        "full_p99_ms": round(full["p99_ms"], 2),
        "bare_p50_ms": round(bare["p50_ms"], 2),
        "bare_p99_ms": round(bare["p99_ms"], 2),
        "full_startup_s": round(full_start, 2),
        "bare_startup_s": round(bare_start, 2),
        "throughput_ratio": round(full["updates_per_s"] / bare["updates_per_s"], 3),
        "startup_ratio": round(full_start / bare_start, 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
