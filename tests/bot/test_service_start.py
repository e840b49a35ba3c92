"""Start-up of `micropop run` against a Bot API that is unreachable or rejects the token."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys

import pytest

from bot.emulator import BotAPIEmulator
from bot.errors import ConfigError
from bot.rehearsal.stage import BOT_TOKEN, ORGANISER_CHAT_ID, StageSettings
from bot.service import BotService

RETRY_LINE = "Bot API unreachable at start"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def create_service(tmp_path, api_base_url: str, token: str = BOT_TOKEN) -> BotService:
    settings = StageSettings(
        bot_token=token,
        api_base_url=api_base_url,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'micropop.sqlite3'}",
        organiser_chat_id=ORGANISER_CHAT_ID,
        web_listen="127.0.0.1:0",
    )
    service = BotService(settings)
    service.start_retry_min_s = 0.05
    service.start_retry_max_s = 0.2
    return service


def retry_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(RETRY_LINE)]


async def test_start_waits_until_api_listens(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="bot.service")
    port = free_port()
    service = create_service(tmp_path, f"http://127.0.0.1:{port}")
    stop = asyncio.Event()
    waiting = asyncio.create_task(service.wait_for_bot_api(stop))
    for _ in range(200):
        if len(retry_messages(caplog)) >= 4:
            break
        await asyncio.sleep(0.02)

    emulator = BotAPIEmulator(port=port)
    await emulator.start()
    try:
        reachable = await asyncio.wait_for(waiting, 5)
    finally:
        await service.close_unstarted()
        await emulator.stop()

    messages = retry_messages(caplog)
    assert reachable is True
    assert "attempt=1 " in messages[0]
    assert "Cannot connect" in messages[0]
    assert "next_attempt_in=0.1s" in messages[1]
    # Backoff doubles from 0.05 s and is capped at 0.2 s.
    assert "next_attempt_in=0.2s" in messages[3]
    assert all("next_attempt_in=0.4s" not in message for message in messages)
    assert emulator.calls_to("getMe")


async def test_start_retries_while_api_offline(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="bot.service")
    async with BotAPIEmulator() as emulator:
        emulator.set_offline()
        service = create_service(tmp_path, emulator.base_url)
        waiting = asyncio.create_task(service.wait_for_bot_api(asyncio.Event()))
        for _ in range(200):
            if retry_messages(caplog):
                break
            await asyncio.sleep(0.02)
        emulator.set_offline(False)

        reachable = await asyncio.wait_for(waiting, 5)
        await service.close_unstarted()

    assert reachable is True
    assert retry_messages(caplog)


async def test_start_wait_ends_on_stop(tmp_path):
    service = create_service(tmp_path, f"http://127.0.0.1:{free_port()}")
    stop = asyncio.Event()
    waiting = asyncio.create_task(service.wait_for_bot_api(stop))
    await asyncio.sleep(0.1)

    stop.set()
    reachable = await asyncio.wait_for(waiting, 5)
    await service.close_unstarted()

    assert reachable is False


async def test_start_rejected_token_raises(tmp_path, caplog):
    async with BotAPIEmulator() as emulator:
        # The emulator returns 401 for a secret outside A-Za-z0-9_-, as Telegram does for a
        # token it did not issue.
        service = create_service(tmp_path, emulator.base_url, token="123456:not.issued")
        try:
            with pytest.raises(ConfigError) as error:
                await service.wait_for_bot_api(asyncio.Event())
        finally:
            await service.close_unstarted()

    assert "MICROPOP_BOT_TOKEN was rejected" in str(error.value)
    assert "401" in str(error.value)
    assert not retry_messages(caplog)


def run_command(tmp_path, api_base_url: str, token: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MICROPOP_")}
    env.update(
        MICROPOP_BOT_TOKEN=token,
        MICROPOP_ORGANISER_CHAT_ID=str(ORGANISER_CHAT_ID),
        MICROPOP_API_BASE_URL=api_base_url,
        MICROPOP_DATA_DIR=str(tmp_path / "data"),
        MICROPOP_WEB_LISTEN="127.0.0.1:0",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_run_rejected_token_exits_with_one_line(tmp_path):
    async with BotAPIEmulator() as emulator:
        process = run_command(tmp_path, emulator.base_url, "123456:not.issued")
        _, stderr = await asyncio.to_thread(process.communicate, timeout=60)

    assert process.returncode == 2
    assert "Traceback" not in stderr
    assert "Unclosed" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("micropop: MICROPOP_BOT_TOKEN was rejected")


async def test_run_starts_once_api_answers(tmp_path):
    async with BotAPIEmulator() as emulator:
        emulator.set_offline()
        process = run_command(tmp_path, emulator.base_url, BOT_TOKEN)
        lines = []
        try:
            while not any("Bot service started" in line for line in lines):
                line = await asyncio.to_thread(process.stderr.readline)
                assert line, "".join(lines)
                lines.append(line)
                if len([line for line in lines if RETRY_LINE in line]) == 2:
                    emulator.set_offline(False)

            process.send_signal(signal.SIGINT)
            _, rest = await asyncio.to_thread(process.communicate, timeout=60)
        finally:
            if process.returncode is None:
                process.kill()
                process.communicate()
    stderr = "".join(lines) + rest

    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert "Unclosed" not in stderr
    assert "attempt=1 " in stderr
    assert "next_attempt_in=2.0s" in stderr
    assert "Bot API reachable" in stderr


async def test_run_unreachable_api_stops_cleanly(tmp_path):
    process = run_command(tmp_path, f"http://127.0.0.1:{free_port()}", BOT_TOKEN)
    # Wait for the second attempt, so the signal arrives while start-up waits.
    lines = []
    while len([line for line in lines if RETRY_LINE in line]) < 2:
        line = await asyncio.to_thread(process.stderr.readline)
        assert line, "".join(lines)
        lines.append(line)

    process.send_signal(signal.SIGINT)
    rest = await asyncio.to_thread(process.communicate, timeout=30)
    stderr = "".join(lines) + rest[1]

    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert "Unclosed" not in stderr
    assert "next_attempt_in=1.0s" in lines[-1] or "next_attempt_in=2.0s" in lines[-1]
