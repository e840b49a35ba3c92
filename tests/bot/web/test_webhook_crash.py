"""Webhook mode under kill -9: an update received but not handled is handled once after restart.

The bot answers a webhook request only after handling it (handle_in_background=False), so a
process that dies mid-way leaves the request unanswered and the emulator delivers the update
again, as Telegram does. The update here is an organiser's press on a broadcast's Confirm
button: losing it would leave the broadcast unsent, and running it twice would audit twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db import migrate
from bot.db.engine import create_database
from bot.db.models import Announcement, AuditEntry, ProcessedUpdate
from bot.emulator import BotAPIEmulator, FaultKind
from bot.rehearsal.stage import BOT_TOKEN, ORGANISER_CHAT_ID, ORGANISER_USER_ID
from bot.services import announcements, attendees, events
from bot.services.attendees import Arrival
from bot.services.events import EventFields
from bot.telegram.organiser_keyboards import BroadcastCallback
from tests.figures import record

SECRET = "crash-Secret_42"
GUEST = 7_000_000_501
# Long enough that the kill always lands while the handler waits for getChatMember.
HANDLER_STALL_S = 30.0
HANDLED_WITHIN_S = 30.0


class NoScheduler:
    """The bot process schedules the confirmed broadcast itself."""

    def schedule_announcement(self, announcement_id, when):
        pass

    def unschedule_announcement(self, announcement_id):
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebhookBot:
    """`micropop run` in webhook mode as a subprocess, restartable on the same port."""

    def __init__(self, emulator: BotAPIEmulator, database_url: str) -> None:
        port = free_port()
        self.environment = os.environ | {
            "MICROPOP_BOT_TOKEN": BOT_TOKEN,
            "MICROPOP_API_BASE_URL": emulator.base_url,
            "MICROPOP_DATABASE_URL": database_url,
            "MICROPOP_ORGANISER_CHAT_ID": str(ORGANISER_CHAT_ID),
            "MICROPOP_WEBHOOK_URL": f"http://127.0.0.1:{port}",
            "MICROPOP_WEBHOOK_SECRET": SECRET,
            "MICROPOP_WEB_LISTEN": f"127.0.0.1:{port}",
            "MICROPOP_LOG_LEVEL": "WARNING",
            "MICROPOP_BROADCAST_CONFIRM_OVER": "0",
        }
        self.emulator = emulator
        self.process: subprocess.Popen | None = None

    async def start(self) -> None:
        calls = len(self.emulator.calls_to("setWebhook"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], env=self.environment
        )
        await self.emulator.wait_for(
            lambda: len(self.emulator.calls_to("setWebhook")) > calls, timeout=60
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


async def prepare(database_url: str) -> int:
    """An event with one guest and a broadcast waiting for an organiser's confirmation."""
    database = create_database(database_url)
    await migrate.upgrade(database)
    event = await events.create_event(database, EventFields(title="Crash night"))
    await attendees.register(database, event.id, Arrival(GUEST, GUEST, "Guest", None, "en", "qr"))
    view = await announcements.create(
        database, NoScheduler(), text="Doors open", created_by="Olga", needs_confirmation=True
    )
    await database.dispose()
    return view.id


def press_confirm(emulator: BotAPIEmulator, announcement_id: int) -> None:
    organisers = emulator.group(ORGANISER_CHAT_ID, "Organisers")
    olga = emulator.user(ORGANISER_USER_ID, "Olga")
    emulator.set_member(organisers, olga, "administrator")
    bot_user = emulator.bot_user(BOT_TOKEN)
    question = emulator.state.chats[ORGANISER_CHAT_ID].add_message(
        bot_user.to_api(), text=f"Announcement #{announcement_id}: press Confirm to send it."
    )
    data = BroadcastCallback(action="confirm", announcement_id=announcement_id).pack()
    emulator.press_button(olga, question, data)


async def outcome(database_url: str, announcement_id: int) -> tuple[str, int, int]:
    """Return the broadcast's status, its confirmation audit entries and unfinished updates."""
    database = create_database(database_url)
    try:
        async with database.transaction() as session:
            status = await session.scalar(
                select(Announcement.status).where(Announcement.id == announcement_id)
            )
            audited = await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "broadcast-confirm", AuditEntry.result == "ok")
            )
            unfinished = await session.scalar(
                select(func.count())
                .select_from(ProcessedUpdate)
                .where(ProcessedUpdate.handled_at.is_(None))
            )
    finally:
        await database.dispose()
    return status.value, audited, unfinished


async def wait_confirmed(
    database_url: str, announcement_id: int, scenario: str
) -> tuple[str, int, int]:
    started = time.monotonic()
    while time.monotonic() < started + HANDLED_WITHIN_S:
        result = await outcome(database_url, announcement_id)
        if result[0] != "awaiting_confirmation" and result[2] == 0:
            elapsed = round(time.monotonic() - started, 2)
            record("webhook-kill", scenario=scenario, handled_after_restart_s=elapsed)
            return result
        await asyncio.sleep(0.2)
    return await outcome(database_url, announcement_id)


def unfinished_rows(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM processed_updates WHERE handled_at IS NULL"
        ).fetchone()
    return count


@pytest.fixture
async def crash_rig(tmp_path):
    path = tmp_path / "micropop.sqlite3"
    database_url = f"sqlite+aiosqlite:///{path}"
    async with BotAPIEmulator(webhook_retry_delays=(0.1, 0.5, 1.0)) as emulator:
        announcement_id = await prepare(database_url)
        bot = WebhookBot(emulator, database_url)
        await bot.start()
        try:
            yield emulator, bot, path, database_url, announcement_id
        finally:
            if bot.process is not None and bot.process.poll() is None:
                bot.kill()


async def test_kill_before_handling_handles_update_once(crash_rig):
    emulator, bot, path, database_url, announcement_id = crash_rig
    # Hold SQLite's write lock, so the update is received and then waits to be recorded.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        press_confirm(emulator, announcement_id)
        await emulator.wait_for(lambda: emulator.webhook.attempts >= 1, timeout=10)
        await asyncio.sleep(0.5)
        bot.kill()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    await bot.start()
    status, audited, unfinished = await wait_confirmed(
        database_url, announcement_id, "before handling"
    )
    exit_code = bot.stop()

    assert status != "awaiting_confirmation"
    assert audited == 1
    assert unfinished == 0
    assert exit_code == 0


async def test_kill_mid_handler_handles_update_once(crash_rig):
    emulator, bot, path, database_url, announcement_id = crash_rig
    stall = emulator.faults.add(FaultKind.DELAY, "getChatMember", delay=HANDLER_STALL_S)

    press_confirm(emulator, announcement_id)
    await emulator.wait_for(lambda: stall.hits == 1, timeout=10)
    recorded = unfinished_rows(path)
    bot.kill()

    await bot.start()
    status, audited, unfinished = await wait_confirmed(
        database_url, announcement_id, "mid handler"
    )
    exit_code = bot.stop()

    assert recorded == 1
    assert status != "awaiting_confirmation"
    assert audited == 1
    assert unfinished == 0
    assert exit_code == 0


async def test_kill_mid_handler_answers_press_once(crash_rig):
    emulator, bot, path, database_url, announcement_id = crash_rig
    stall = emulator.faults.add(FaultKind.DELAY, "getChatMember", delay=HANDLER_STALL_S)
    press_confirm(emulator, announcement_id)
    await emulator.wait_for(lambda: stall.hits == 1, timeout=10)
    bot.kill()

    await bot.start()
    await wait_confirmed(database_url, announcement_id, "mid handler, answers")
    await asyncio.sleep(1.0)
    bot.stop()

    answers = [call for call in emulator.calls_to("answerCallbackQuery") if call.ok]
    edits = [call for call in emulator.calls_to("editMessageText") if call.ok]
    assert len(answers) == 1
    assert len(edits) == 1
