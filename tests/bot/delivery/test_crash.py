"""Crash safety: kill -9 of the bot process mid-broadcast, then a restart."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.db import migrate
from bot.db.engine import create_database
from bot.emulator import BotAPIEmulator, FaultKind
from bot.rehearsal.stage import BOT_TOKEN, ORGANISER_CHAT_ID
from bot.services import announcements, attendees, events
from bot.services.attendees import Arrival
from bot.services.events import EventFields
from tests.figures import record

SEND_CONCURRENCY = 8
# Above Telegram's 30 a second, which the emulator here does not enforce: the trial is about
# crashes, and a faster broadcast keeps 20 trials of 500 recipients within a few minutes.
SEND_RATE_PER_S = 100
TEXT = "Crash-safe announcement"


class NoScheduler:
    """The bot process registers scheduled announcements itself when it starts."""

    def schedule_announcement(self, announcement_id, when):
        pass

    def unschedule_announcement(self, announcement_id):
        pass


def start_bot(emulator: BotAPIEmulator, database_url: str) -> subprocess.Popen:
    environment = os.environ | {
        "MICROPOP_BOT_TOKEN": BOT_TOKEN,
        "MICROPOP_API_BASE_URL": emulator.base_url,
        "MICROPOP_DATABASE_URL": database_url,
        "MICROPOP_ORGANISER_CHAT_ID": str(ORGANISER_CHAT_ID),
        "MICROPOP_WEB_LISTEN": "127.0.0.1:0",
        "MICROPOP_LOG_LEVEL": "WARNING",
        "MICROPOP_SEND_CONCURRENCY": str(SEND_CONCURRENCY),
        "MICROPOP_RATE_GLOBAL_PER_S": str(SEND_RATE_PER_S),
    }
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=environment)


async def prepare(emulator: BotAPIEmulator, database_url: str, recipients: int) -> int:
    database = create_database(database_url)
    await migrate.upgrade(database)
    event = await events.create_event(database, EventFields(title="Crash night"))
    emulator.group(ORGANISER_CHAT_ID, "Organisers")
    for user_id in range(1, recipients + 1):
        emulator.user(user_id, f"Guest {user_id}")
        await attendees.register(
            database, event.id, Arrival(user_id, user_id, "Guest", None, "en", "qr")
        )
    view = await announcements.create(database, NoScheduler(), text=TEXT, created_by="test")
    await database.dispose()
    return view.id


async def wait_done(database_url: str, announcement_id: int, timeout: float) -> dict[str, int]:
    database = create_database(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            view = await announcements.get(database, announcement_id)
            if view.status == "done":
                return view.counts
            await asyncio.sleep(0.2)
    finally:
        await database.dispose()
    raise TimeoutError(f"announcement not done after {timeout} s")


async def kill_trial(directory: Path, recipients: int, rng: random.Random) -> Counter[int]:
    """Run one broadcast, kill -9 the bot at a random point, restart; return copies per chat."""
    database_url = f"sqlite+aiosqlite:///{directory / 'micropop.sqlite3'}"
    async with BotAPIEmulator() as emulator:
        announcement_id = await prepare(emulator, database_url, recipients)
        emulator.faults.add(kind=FaultKind.DELAY, method="sendMessage", delay=0.01, count=None)
        kill_after = rng.randint(1, recipients - 1)

        first = start_bot(emulator, database_url)
        try:
            await emulator.wait_for(
                lambda: len(emulator.calls_to("sendMessage")) >= kill_after, timeout=60
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        second = start_bot(emulator, database_url)
        try:
            counts = await wait_done(database_url, announcement_id, timeout=90)
        finally:
            second.send_signal(signal.SIGTERM)
            exit_code = second.wait(timeout=30)

    assert counts == {"sent": recipients}
    assert exit_code == 0
    return Counter(
        message["chat"]["id"]
        for chat in range(1, recipients + 1)
        for message in emulator.messages(chat)
        if message.get("text") == TEXT
    )


def check_copies(copies: Counter[int], recipients: int) -> None:
    missing = [chat for chat in range(1, recipients + 1) if copies[chat] == 0]
    duplicates = sum(count - 1 for count in copies.values())
    assert missing == []
    assert duplicates <= SEND_CONCURRENCY


async def test_kill_mid_broadcast_loses_nothing(tmp_path):
    copies = await kill_trial(tmp_path, recipients=120, rng=random.Random(7))

    check_copies(copies, 120)


@pytest.mark.long
@pytest.mark.parametrize("trial", range(20))
async def test_kill_at_random_points_of_500_broadcast(tmp_path, trial):
    copies = await kill_trial(tmp_path, recipients=500, rng=random.Random(trial))

    record(
        "kill-9-broadcast",
        seed=trial,
        recipients=500,
        missing=sum(1 for chat in range(1, 501) if copies[chat] == 0),
        duplicates=sum(count - 1 for count in copies.values()),
    )
    check_copies(copies, 500)
