"""Settings from MICROPOP_* environment variables and an optional .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

TELEGRAM_API_URL = "https://api.telegram.org"

# One example per variable, shown when the variable is missing or malformed.
EXAMPLES = {
    "bot_token": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
    "api_base_url": "http://127.0.0.1:8081",
    "database_url": "postgresql+asyncpg://micropop@127.0.0.1/micropop",
    "data_dir": "/var/lib/micropop",
    "organiser_chat_id": "-1001234567890",
    "bot_username": "micropop_bot",
    "signing_secret": "a-random-string-of-32-characters-or-more",
    "webhook_url": "https://bot.example.org/telegram/webhook",
    "webhook_secret": "a-random-token-of-A-Z-a-z-0-9-_-",
    "webhook_listen": "0.0.0.0:8080",
    "web_listen": "127.0.0.1:8080",
    "public_base_url": "https://popup.com",
    "log_level": "INFO",
    "redis_url": "redis://127.0.0.1:6379/0",
    "redis_prefix": "micropop",
    "venue_tokens": "main-hall:a-random-token",
}


# Database URL schemes the engine set-up supports: the async drivers that are installed.
DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")


class DatabaseSettings(BaseSettings):
    """The settings `micropop db` needs: where the database is, and how much to log."""

    model_config = SettingsConfigDict(
        env_prefix="MICROPOP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("data")
    database_url: str = ""
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if value and scheme not in DATABASE_SCHEMES:
            raise ValueError(
                "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/NAME"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return upper

    @model_validator(mode="after")
    def _default_database(self) -> DatabaseSettings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'micropop.sqlite3'}"
        return self


class Settings(DatabaseSettings):
    """Every setting of the bot service; each field maps to MICROPOP_<NAME>."""

    bot_token: SecretStr
    api_base_url: str = TELEGRAM_API_URL
    organiser_chat_id: int = 0
    bot_username: str = "micropop_bot"
    signing_secret: SecretStr = SecretStr("")
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_path: str = "/telegram/webhook"
    web_listen: str = "127.0.0.1:8080"
    public_base_url: str = "http://127.0.0.1:8080"
    redis_url: str = ""
    # Start of every Redis key, so that several deployments can share one Redis server.
    redis_prefix: str = "micropop"
    venue_tokens: str = ""
    time_zone: str = "UTC"
    purge_after_days: int = Field(default=30, ge=1)
    # Claim codes and live countdowns are deleted from chats this many seconds after sending.
    # Telegram lets a bot delete a message for 48 hours, so at most 47 hours are kept.
    ephemeral_ttl_s: int = Field(default=12 * 3600, ge=1, le=47 * 3600)
    missed_job_grace_s: int = Field(default=600, ge=1)
    broadcast_confirm_over: int = Field(default=50, ge=0)
    broadcast_second_organiser: bool = False
    # Queue a countdown poster for the venue printer whenever /drop creates a drop.
    poster_on_drop: bool = False
    rate_global_per_s: float = Field(default=30.0, gt=0)
    rate_private_per_s: float = Field(default=1.0, gt=0)
    rate_group_per_min: float = Field(default=20.0, gt=0)
    paid_broadcast_per_s: float = Field(default=0.0, ge=0, le=1000)
    send_concurrency: int = Field(default=8, ge=1, le=64)
    run_migrations_on_start: bool = True

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        head, sep, tail = raw.partition(":")
        if not (sep and head.isdigit() and tail):
            raise ValueError("expected <digits>:<secret> as issued by @BotFather")
        return value

    @field_validator("web_listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT")
        return value

    @field_validator("redis_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:")
        if not value or len(value) > 64 or not set(value) <= allowed:
            raise ValueError("use 1-64 characters of A-Z a-z 0-9 _ - . :")
        return value

    @field_validator("time_zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("expected an IANA time zone such as Europe/Berlin") from exc
        return value

    @field_validator("api_base_url", "public_base_url", "webhook_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_webhook(self) -> Settings:
        if self.webhook_url and not self.webhook_secret.get_secret_value():
            raise ValueError("webhook_secret: required when MICROPOP_WEBHOOK_URL is set")
        secret = self.webhook_secret.get_secret_value()
        allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
        if secret and (len(secret) > 256 or not set(secret) <= allowed):
            raise ValueError("webhook_secret: use 1-256 characters of A-Z a-z 0-9 _ -")
        if not self.signing_secret.get_secret_value():
            # A deployment should set its own; deriving from the token keeps links stable
            # across restarts of a single-box install that never set one.
            self.signing_secret = SecretStr("derived:" + self.bot_token.get_secret_value())
        return self

    @property
    def web_host(self) -> str:
        return self.web_listen.rpartition(":")[0]

    @property
    def web_port(self) -> int:
        return int(self.web_listen.rpartition(":")[2])

    def venue_token_map(self) -> dict[str, str]:
        """Map each venue token to its venue name, from `name:token,name:token`."""
        result: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in self.venue_tokens.split(","))):
            name, sep, token = item.partition(":")
            if not sep or not name or len(token) < 16:
                raise ConfigError(
                    f"MICROPOP_VENUE_TOKENS: invalid entry {name!r}: use NAME:TOKEN with a token "
                    f"of 16 or more characters, e.g. {EXAMPLES['venue_tokens']}"
                )
            result[token] = name
        return result


def load_settings(**overrides: object) -> Settings:
    """Load settings, turning a validation failure into one ConfigError line per problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, Settings)) from None


def load_database_settings() -> DatabaseSettings:
    """Load only the database settings, so that `micropop db` works without a bot token."""
    try:
        return DatabaseSettings()
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, DatabaseSettings)) from None


def describe_validation_error(
    exc: ValidationError, model: type[BaseSettings] = BaseSettings
) -> str:
    """Describe each problem on one line: the variable, its value, the fix and an example.

    A variable without an entry in EXAMPLES gets its default value as the example.
    """
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"])
        if not field and ":" in message:
            field, _, message = message.removeprefix("Value error, ").partition(": ")
        name = f"MICROPOP_{field.upper()}"
        example = EXAMPLES.get(field) or _default_example(model, field)
        if error["type"] == "missing":
            text = f"{name} is missing"
        else:
            value = error.get("input")
            shown = (
                "(hidden)" if field in {"bot_token", "signing_secret", "webhook_secret"} else value
            )
            # pydantic's own messages speak of "Input"; name the rejected value instead.
            reason = message.removeprefix("Value error, ").replace("Input", repr(shown), 1)
            text = f"{name} is invalid ({shown!r}): {reason}"
        lines.append(f"{text}; example: {name}={example}" if example else text)
    return "\n".join(lines)


def _default_example(model: type[BaseSettings], field: str) -> str:
    info = model.model_fields.get(field)
    if info is None or info.is_required() or info.default in (None, "", SecretStr("")):
        return ""
    default = info.default
    return str(default).lower() if isinstance(default, bool) else str(default)
