"""Logging: secrets never reach a log line, token-bearing URLs are not logged."""

from __future__ import annotations

import logging

import pytest

from bot.logs import configure_logging
from bot.rehearsal.stage import BOT_TOKEN, Stage
from bot.services import events
from bot.services.events import EventFields


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_redacting_filter_hides_secret(capsys, restore_logging):
    configure_logging("DEBUG", ["s3cr3t-value-123"])

    logging.getLogger("micropop.test").warning("calling %s", "https://x/bots3cr3t-value-123/getMe")

    err = capsys.readouterr().err
    assert "s3cr3t-value-123" not in err
    assert "[redacted]" in err


async def test_full_night_logs_no_token(tmp_path, capsys, restore_logging):
    signing = "signing-secret-for-log-test"
    configure_logging("DEBUG", [BOT_TOKEN, signing])

    async with Stage.on_sqlite(tmp_path, signing_secret=signing, log_level="DEBUG") as stage:
        await events.create_event(stage.bot.db, EventFields(title="Log night"))
        ada = stage.emulator.user(5, "Ada")
        stage.emulator.send_start(ada)
        await stage.emulator.wait_for_message(5)

    err = capsys.readouterr().err
    assert "Attendee arrived" in err
    assert BOT_TOKEN not in err
    assert BOT_TOKEN.split(":")[1] not in err
    assert signing not in err


def test_database_driver_quiet_at_debug(restore_logging):
    configure_logging("DEBUG", [])

    assert logging.getLogger("micropop.test").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
