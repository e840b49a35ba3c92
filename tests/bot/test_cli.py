"""The `micropop` commands' start-up: bad settings stop them with one line and exit code 2."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from bot.cli import app

TOKEN = "123456:secret-token-value"
CHAT_ID = "-1001234567890"
VENUE_TOKEN = "a-venue-token-of-24-chars"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MICROPOP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MICROPOP_DATA_DIR", str(tmp_path / "data"))
    # Nothing reaches Telegram if a check is missing and the service starts.
    monkeypatch.setenv("MICROPOP_API_BASE_URL", "http://127.0.0.1:9")


def invoke(*args: str, **env: str):
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_one_line(result, *parts: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2
    assert len(lines) == 1, result.stderr
    for part in parts:
        assert part in lines[0]
    assert "Traceback" not in result.output


def test_run_without_organiser_chat_id():
    result = invoke("run", MICROPOP_BOT_TOKEN=TOKEN)

    assert_one_line(result, "MICROPOP_ORGANISER_CHAT_ID is missing", "getUpdates", "e.g. ")


def test_run_with_zero_organiser_chat_id():
    result = invoke("run", MICROPOP_BOT_TOKEN=TOKEN, MICROPOP_ORGANISER_CHAT_ID="0")

    assert_one_line(result, "MICROPOP_ORGANISER_CHAT_ID is missing")


def test_run_short_venue_token():
    result = invoke(
        "run",
        MICROPOP_BOT_TOKEN=TOKEN,
        MICROPOP_ORGANISER_CHAT_ID=CHAT_ID,
        MICROPOP_VENUE_TOKENS="short",
    )

    assert_one_line(result, "MICROPOP_VENUE_TOKENS", "'short'", "16 or more characters")


def test_run_unsupported_database_url():
    result = invoke(
        "run",
        MICROPOP_BOT_TOKEN=TOKEN,
        MICROPOP_ORGANISER_CHAT_ID=CHAT_ID,
        MICROPOP_DATABASE_URL="mysql://x",
    )

    assert_one_line(result, "MICROPOP_DATABASE_URL", "'mysql://x'", "postgresql+asyncpg://")


@pytest.mark.parametrize("directory", ["/proc/nope", "{tmp}/a-file/data"])
def test_run_data_dir_not_creatable(tmp_path, directory):
    (tmp_path / "a-file").write_text("")

    result = invoke(
        "run",
        MICROPOP_BOT_TOKEN=TOKEN,
        MICROPOP_ORGANISER_CHAT_ID=CHAT_ID,
        MICROPOP_DATA_DIR=directory.format(tmp=tmp_path),
    )

    assert_one_line(result, "MICROPOP_DATA_DIR", "failed to create directory")


def test_run_bad_time_zone_in_dotenv(tmp_path):
    (tmp_path / ".env").write_text(
        f"MICROPOP_BOT_TOKEN={TOKEN}\nMICROPOP_ORGANISER_CHAT_ID={CHAT_ID}\n"
        "MICROPOP_TIME_ZONE=Mars/X\n"
    )

    result = invoke("run")

    assert_one_line(result, "MICROPOP_TIME_ZONE is invalid ('Mars/X')", "Europe/Berlin")


def test_hardware_state_file_not_creatable(tmp_path):
    (tmp_path / "a-file").write_text("")

    result = invoke(
        "hardware",
        MICROPOP_HW_STATE_FILE=str(tmp_path / "a-file" / "hw.sqlite3"),
        MICROPOP_HW_VENUE_TOKEN=VENUE_TOKEN,
    )

    assert_one_line(result, "MICROPOP_HW_STATE_FILE", "failed to create directory")


def test_hardware_state_file_is_directory(tmp_path):
    (tmp_path / "a-directory").mkdir()

    result = invoke(
        "hardware",
        MICROPOP_HW_STATE_FILE=str(tmp_path / "a-directory"),
        MICROPOP_HW_VENUE_TOKEN=VENUE_TOKEN,
    )

    assert_one_line(result, "MICROPOP_HW_STATE_FILE", "failed to open", "SQLite database")


def test_db_upgrade_without_bot_token(tmp_path):
    result = invoke("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "micropop.sqlite3").exists()


def test_db_upgrade_unknown_revision():
    result = invoke("db", "upgrade", "nosuchrev")

    # Log lines of the attempt come first, the error last.
    last = result.stderr.strip().splitlines()[-1]
    assert result.exit_code == 2
    assert "invalid revision 'nosuchrev'" in last
    assert "use head" in last
    assert "Traceback" not in result.output


def test_db_upgrade_unsupported_database_url():
    result = invoke("db", "upgrade", MICROPOP_DATABASE_URL="mysql://x")

    assert_one_line(result, "MICROPOP_DATABASE_URL", "sqlite+aiosqlite:///PATH")
