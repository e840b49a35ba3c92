"""Webhook secret tokens: every missing, wrong or malformed one gets 401 and nothing is handled.

Requests go over a raw socket, so a header can carry bytes an HTTP client library would refuse
to send: Latin-1, UTF-8, control characters and a token repeated or split across headers.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket

import pytest
from sqlalchemy import func, select

from bot.db.models import ProcessedUpdate
from bot.rehearsal.stage import Stage
from bot.services import events
from bot.services.events import EventFields
from tests.figures import record

SECRET = "webhook-Secret_123"
HEADER = b"X-Telegram-Bot-Api-Secret-Token"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


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
        stage.emulator.user(77, "Mallory")
        yield stage


def update_body(update_id: int) -> bytes:
    user = {"id": 77, "is_bot": False, "first_name": "Mallory"}
    message = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 77, "type": "private"},
        "from": user,
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    return json.dumps({"update_id": update_id, "message": message}).encode()


async def post(port: int, headers: list[bytes], body: bytes) -> int:
    """POST to the webhook with raw header lines; return the HTTP status code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [
        b"POST /telegram/webhook HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Content-Type: application/json",
        b"Content-Length: " + str(len(body)).encode(),
        b"Connection: close",
        *headers,
    ]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


async def handled(stage: Stage) -> int:
    async with stage.bot.db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(ProcessedUpdate))


BAD_HEADERS = {
    "missing": [],
    "empty": [HEADER + b": "],
    "wrong": [HEADER + b": wrong"],
    "prefix": [HEADER + b": " + SECRET[:-1].encode()],
    "longer": [HEADER + b": " + SECRET.encode() + b"x"],
    "case": [HEADER + b": " + SECRET.swapcase().encode()],
    "latin1": [HEADER + b": s\xe9cret-\xfcnicode"],
    "utf8": [HEADER + b": " + "sécret-ünïcode".encode()],
    "control": [HEADER + b": " + SECRET.encode() + b"\x01"],
    "oversized": [HEADER + b": " + b"A" * 8000],
    "twice": [HEADER + b": wrong", HEADER + b": " + SECRET.encode()],
    "other-name": [b"X-Telegram-Bot-Api-Secret: " + SECRET.encode()],
}


@pytest.mark.parametrize("name", list(BAD_HEADERS))
async def test_bad_secret_rejected_without_server_error(webhook_stage, name):
    status = await post(webhook_stage.bot.web_port, BAD_HEADERS[name], update_body(600))
    await asyncio.sleep(0.1)
    count = await handled(webhook_stage)

    record("webhook-secrets", case=name, status=status, handled=count)
    assert status in (400, 401)
    assert count == 0
    assert webhook_stage.emulator.calls_to("sendMessage") == []


async def test_mutated_secrets_never_handled(webhook_stage):
    rng = random.Random(42)
    statuses = []
    for number in range(300):
        token = list(SECRET)
        position = rng.randrange(len(token))
        token[position] = rng.choice(ALPHABET.replace(token[position], ""))
        header = HEADER + b": " + "".join(token).encode()
        statuses.append(
            await post(webhook_stage.bot.web_port, [header], update_body(700 + number))
        )
    await asyncio.sleep(0.2)
    count = await handled(webhook_stage)

    record(
        "webhook-secrets",
        case="mutated",
        requests=len(statuses),
        handled=count,
        server_errors=sum(status >= 500 for status in statuses),
    )
    assert set(statuses) == {401}
    assert count == 0


async def test_right_secret_still_handled(webhook_stage):
    header = HEADER + b": " + SECRET.encode()

    status = await post(webhook_stage.bot.web_port, [header], update_body(800))

    assert status == 200
    assert await handled(webhook_stage) == 1
