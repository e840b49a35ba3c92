"""Settings of the venue daemon from MICROPOP_HW_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DaemonConfig(BaseSettings):
    """Every setting of `micropop hardware`. Each field maps to MICROPOP_HW_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="MICROPOP_HW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Base URL of the bot service's web app, which serves /hardware/*.
    bot_url: str = "http://127.0.0.1:8080"
    # This venue's token from the bot's MICROPOP_VENUE_TOKENS (NAME:TOKEN).
    venue_token: SecretStr = SecretStr("")
    state_file: Path = Path("data/hardware.sqlite3")
    # ADDRESS=PROFILE pairs, profile eddystone, uribeacon or nus: AA:BB:CC:DD:EE:FF=eddystone.
    # An address sim:NAME is a simulated beacon that records its writes (hardware.sim).
    beacons: str = ""
    # tcp://HOST:9100, usb://VID:PID, serial:///dev/ttyUSB0?baudrate=N, file:///dev/usb/lp0,
    # preview://DIR, or empty for no printer.
    printer: str = ""
    adapter: str = "hci0"
    # Seconds the bot keeps a feed request open when no event is waiting.
    poll_timeout: float = Field(default=25.0, gt=0, le=50)
    # Seconds between status reports to the bot.
    status_interval: float = Field(default=15.0, gt=0)
    scan_timeout: float = Field(default=5.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    # First retry delay in seconds after a failed print, beacon write or feed request. Each
    # further failure doubles it, up to the matching maximum.
    retry_min: float = Field(default=1.0, gt=0)
    print_retry_max: float = Field(default=30.0, gt=0)
    beacon_retry_max: float = Field(default=60.0, gt=0)
    uplink_retry_max: float = Field(default=30.0, gt=0)

    @field_validator("bot_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL such as http://127.0.0.1:8080")
        return value.rstrip("/")
