"""Settings from MICROPOP_* variables: clear one-line errors, secrets kept out of messages."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.settings import load_database_settings, load_settings

TOKEN = "123456:secret-token-value"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("MICROPOP_"):
            monkeypatch.delenv(name)


def test_missing_token_names_variable_and_example():
    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "MICROPOP_BOT_TOKEN is missing" in str(error.value)
    assert "example: MICROPOP_BOT_TOKEN=123456:" in str(error.value)


def test_malformed_token_is_not_echoed(monkeypatch):
    monkeypatch.setenv("MICROPOP_BOT_TOKEN", "not-a-token-but-secret")

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "MICROPOP_BOT_TOKEN is invalid" in str(error.value)
    assert "not-a-token-but-secret" not in str(error.value)


def test_malformed_chat_id_names_value(monkeypatch):
    monkeypatch.setenv("MICROPOP_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MICROPOP_ORGANISER_CHAT_ID", "minus-one")

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "MICROPOP_ORGANISER_CHAT_ID is invalid ('minus-one')" in str(error.value)
    assert "example: MICROPOP_ORGANISER_CHAT_ID=-1001234567890" in str(error.value)


def test_webhook_without_secret_rejected(monkeypatch):
    monkeypatch.setenv("MICROPOP_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MICROPOP_WEBHOOK_URL", "https://bot.example.org")

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "MICROPOP_WEBHOOK_SECRET" in str(error.value)


def test_bad_time_zone_names_value(monkeypatch):
    monkeypatch.setenv("MICROPOP_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MICROPOP_TIME_ZONE", "Mars/Olympus")

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "'Mars/Olympus'" in str(error.value)


def test_default_database_is_sqlite_in_data_dir(monkeypatch):
    monkeypatch.setenv("MICROPOP_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MICROPOP_DATA_DIR", "/srv/popup")

    settings = load_settings()

    assert settings.database_url == "sqlite+aiosqlite:////srv/popup/micropop.sqlite3"


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text(f"MICROPOP_BOT_TOKEN={TOKEN}\nMICROPOP_BOT_USERNAME=x_bot\n")

    settings = load_settings()

    assert settings.bot_username == "x_bot"


def test_settings_repr_hides_token(monkeypatch):
    monkeypatch.setenv("MICROPOP_BOT_TOKEN", TOKEN)

    assert TOKEN not in repr(load_settings())


def test_integer_error_repeats_value(monkeypatch):
    monkeypatch.setenv("MICROPOP_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MICROPOP_ORGANISER_CHAT_ID", "abc")

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "'abc' should be a valid integer" in str(error.value)
    assert "Input should" not in str(error.value)


def test_bound_error_gives_example(monkeypatch):
    monkeypatch.setenv("MICROPOP_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MICROPOP_SEND_CONCURRENCY", "0")

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "MICROPOP_SEND_CONCURRENCY is invalid ('0')" in str(error.value)
    assert "example: MICROPOP_SEND_CONCURRENCY=8" in str(error.value)


def test_unsupported_database_url_rejected(monkeypatch):
    monkeypatch.setenv("MICROPOP_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MICROPOP_DATABASE_URL", "mysql://x")

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "MICROPOP_DATABASE_URL is invalid ('mysql://x')" in str(error.value)
    assert "sqlite+aiosqlite:///PATH or postgresql+asyncpg://" in str(error.value)


def test_database_settings_need_no_token():
    settings = load_database_settings()

    assert settings.database_url == "sqlite+aiosqlite:///data/micropop.sqlite3"
