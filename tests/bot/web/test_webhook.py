"""Webhook mode: updates arrive by HTTP POST, guarded by the secret token."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.db.models import ProcessedUpdate
from bot.rehearsal.stage import Stage
from bot.services import events
from bot.services.events import EventFields

SECRET = "webhook-Secret_123"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def webhook_stage(tmp_path):
    port = free_port()
    stage = Stage.on_sqlite(
        tmp_path,
        webhook_url=f"http://127.0.0.1:{port}",
        webhook_secret=SECRET,
        web_listen=f"127.0.0.1:{port}",
    )
    async with stage:
        await events.create_event(stage.bot.db, EventFields(title="Webhook night"))
        yield stage


def webhook_url(stage) -> str:
    return f"http://127.0.0.1:{stage.bot.web_port}/telegram/webhook"


def start_update(update_id: int) -> dict:
    user = {"id": 77, "is_bot": False, "first_name": "Mallory"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 77, "type": "private"},
            "from": user,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def handled_updates(stage) -> int:
    async with stage.bot.db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(ProcessedUpdate))


async def test_webhook_delivers_start_to_handler(webhook_stage):
    ada = webhook_stage.emulator.user(101, "Ada")

    webhook_stage.emulator.send_start(ada)

    card = await webhook_stage.emulator.wait_for_message(101)
    assert "Webhook night" in card["text"]
    assert webhook_stage.emulator.calls_to("setWebhook")[0].params["secret_token"] == SECRET


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
        {"X-Telegram-Bot-Api-Secret-Token": "sécret-ünïcode"},
    ],
    ids=["missing", "wrong", "non-ascii"],
)
async def test_bad_secret_gets_401_and_nothing_handled(webhook_stage, headers):
    body = json.dumps(start_update(555)).encode()

    async with aiohttp.ClientSession() as client:
        response = await client.post(
            webhook_url(webhook_stage),
            data=body,
            headers={"Content-Type": "application/json", **headers},
        )
    await asyncio.sleep(0.2)

    assert response.status == 401
    assert await handled_updates(webhook_stage) == 0
    assert webhook_stage.emulator.calls_to("sendMessage") == []


async def test_replayed_webhook_update_handled_once(webhook_stage):
    webhook_stage.emulator.user(77, "Mallory")
    body = json.dumps(start_update(900)).encode()
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

    async with aiohttp.ClientSession() as client:
        for _ in range(3):
            response = await client.post(webhook_url(webhook_stage), data=body, headers=headers)
            assert response.status == 200

    assert len(webhook_stage.emulator.messages(77)) == 1


async def test_healthz_reports_ok(webhook_stage):
    async with aiohttp.ClientSession() as client:
        response = await client.get(f"http://127.0.0.1:{webhook_stage.bot.web_port}/healthz")
        body = await response.json()

    assert response.status == 200
    assert body == {"status": "ok", "mode": "webhook"}
