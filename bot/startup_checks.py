"""Checks run before `micropop run` and `micropop db` start, each failing with one ConfigError."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.errors import ConfigError
from bot.settings import EXAMPLES, DatabaseSettings, Settings

# How to look up a group's id without a running bot, for the missing-setting message.
FIND_CHAT_ID = (
    "To find it, add the bot to the group, send a message there while the bot is stopped, "
    "and read message.chat.id from https://api.telegram.org/bot<TOKEN>/getUpdates"
)


def check_run_settings(settings: Settings) -> None:
    """Reject settings that `micropop run` cannot start with."""
    if not settings.organiser_chat_id:
        raise ConfigError(
            "MICROPOP_ORGANISER_CHAT_ID is missing: set it to the organiser group's id, e.g. "
            f"MICROPOP_ORGANISER_CHAT_ID={EXAMPLES['organiser_chat_id']}. {FIND_CHAT_ID}"
        )
    settings.venue_token_map()
    check_database_directory(settings)


def check_database_directory(settings: DatabaseSettings) -> None:
    """Create the SQLite file's directory, or name the setting that points at a bad one."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    derived = f"sqlite+aiosqlite:///{settings.data_dir / 'micropop.sqlite3'}"
    variable = "MICROPOP_DATA_DIR" if settings.database_url == derived else "MICROPOP_DATABASE_URL"
    prepare_directory(variable, Path(url.database).parent)


def prepare_directory(variable: str, directory: Path) -> None:
    """Create `directory` if needed and check that this process can write to it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{variable}: failed to create directory {str(directory)!r} ({exc.strerror}): "
            "point it at a directory this user can write to"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{variable}: directory {str(directory)!r} is not writable by this user: "
            "change its permissions or point the setting at another directory"
        )


def check_sqlite_file(variable: str, path: Path) -> None:
    """Create the directory of the SQLite file `path`, then open the file once."""
    prepare_directory(variable, path.parent)
    try:
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA user_version")
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise ConfigError(
            f"{variable}: failed to open {str(path)!r} as an SQLite database ({exc}): "
            "point it at a file in a directory this user can write to"
        ) from None
