"""A stage for a night: the Bot API emulator and the real bot service wired on loopback.

The rehearsal and the end-to-end tests both build on it, so what the tests check is what
organisers rehearse.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.emulator import BotAPIEmulator, Chat, RateLimits, User
from bot.errors import ConfigError
from bot.service import BotService
from bot.settings import Settings, describe_validation_error

logger = logging.getLogger(__name__)

ORGANISER_CHAT_ID = -1001000000001
ORGANISER_USER_ID = 9001
BOT_TOKEN = "4242:rehearsal-token"


class StageSettings(Settings):
    """Bot settings built only from the stage's values, never from MICROPOP_* or `.env`.

    A stage is offline by design: a Redis URL, a webhook or a second-organiser rule from the
    operator's environment would reach outside it or change the night it plays.
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class Stage:
    """Start an emulator and a bot service against it; restart the bot on the same database."""

    def __init__(
        self,
        database_url: str,
        *,
        limits: RateLimits | None = None,
        bot_username: str = "micropop_bot",
        **overrides: Any,
    ) -> None:
        self.database_url = database_url
        self.emulator = BotAPIEmulator(limits=limits, bot_username=bot_username)
        self.overrides = overrides
        self.service: BotService | None = None
        self.organisers: Chat | None = None
        self.organiser: User | None = None

    @classmethod
    def on_sqlite(cls, directory: Path, **kwargs: Any) -> Stage:
        return cls(f"sqlite+aiosqlite:///{directory / 'micropop.sqlite3'}", **kwargs)

    @property
    def bot(self) -> BotService:
        assert self.service is not None, "Stage not started"
        return self.service

    def settings(self) -> Settings:
        values: dict[str, Any] = {
            "bot_token": BOT_TOKEN,
            "api_base_url": self.emulator.base_url,
            "database_url": self.database_url,
            "organiser_chat_id": ORGANISER_CHAT_ID,
            "bot_username": self.emulator.bot_username,
            "signing_secret": "rehearsal-" + secrets.token_hex(8),
            "web_listen": "127.0.0.1:0",
            "log_level": "WARNING",
        }
        values.update(self.overrides)
        self.overrides.setdefault("signing_secret", values["signing_secret"])
        try:
            return StageSettings(**values)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from None

    async def start(self) -> None:
        await self.emulator.start()
        self.organisers = self.emulator.group(ORGANISER_CHAT_ID, "Organisers", "supergroup")
        self.organiser = self.emulator.user(ORGANISER_USER_ID, "Olga", username="olga")
        self.emulator.set_member(self.organisers, self.organiser, "administrator")
        await self.start_bot()

    async def start_bot(self) -> None:
        self.service = BotService(self.settings())
        await self.service.start()

    async def stop_bot(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    async def restart_bot(self) -> None:
        await self.stop_bot()
        await self.start_bot()

    async def stop(self) -> None:
        await self.stop_bot()
        await self.emulator.stop()

    async def __aenter__(self) -> Stage:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def cut_uplink(self) -> None:
        """Make the Bot API unreachable: connections are refused until `restore_uplink`."""
        await self.emulator.stop()

    async def restore_uplink(self) -> None:
        await self.emulator.start()

    def organiser_says(self, text: str) -> int:
        """Send a message from the organiser into the organiser group."""
        assert self.organiser is not None and self.organisers is not None
        return self.emulator.send_text(self.organiser, text, chat=self.organisers)
