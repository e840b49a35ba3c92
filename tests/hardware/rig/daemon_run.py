"""The venue daemon with the short timeouts and retries that tests use, and a way to run it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from hardware.config import DaemonConfig
from hardware.daemon import run_daemon
from rig.bot_server import VENUE_TOKEN

# Short enough that a retry or a status report comes within a second of the cause.
FAST_SETTINGS: dict[str, Any] = {
    "poll_timeout": 2,
    "status_interval": 0.3,
    "scan_timeout": 0.5,
    "connect_timeout": 5,
    "retry_min": 0.05,
    "print_retry_max": 0.3,
    "beacon_retry_max": 0.3,
    "uplink_retry_max": 0.3,
}


def fast_config(
    bot_url: str, state_dir: Path, printer: str, beacons: str = "", **overrides: Any
) -> DaemonConfig:
    """Return a daemon configuration for `bot_url` with test timeouts, ignoring any .env file."""
    settings = FAST_SETTINGS | overrides
    return DaemonConfig(
        bot_url=bot_url,
        venue_token=SecretStr(VENUE_TOKEN),
        state_file=state_dir / "hardware.sqlite3",
        beacons=beacons,
        printer=printer,
        _env_file=None,
        **settings,
    )


class RunningDaemon:
    """A daemon task, started at once. `shutdown` stops it and waits for it to end."""

    def __init__(self, config: DaemonConfig) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(run_daemon(config, stop=self.stop))

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)
