"""What handlers receive besides the update: settings, database and helpers, built per app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot import shutdown
from bot.db.engine import Database
from bot.services.announcements import JobScheduler
from bot.services.onboarding import Arrivals
from bot.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class BotContext:
    """Passed to every handler as `ctx` through the dispatcher's workflow data."""

    settings: Settings
    db: Database
    scheduler: JobScheduler
    wake_workers: Callable[[], None] = lambda: None
    extras: dict[str, Any] = field(default_factory=dict)
    _background: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    arrivals: Arrivals = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.arrivals = Arrivals(self.db)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` beside the handler, which need not wait for it; `drain` awaits it."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def drain(self, timeout: float) -> int:
        """Let spawned work finish for up to `timeout` seconds, then cancel the rest.

        The service calls this when it stops, after its handlers finished. Work left running
        would send through a closed HTTP session and use a closed database engine, which
        would open both again and leave them open. Returns how many were cancelled.
        """
        cancelled = await shutdown.drain(self._background, timeout)
        if cancelled:
            logger.warning("Background work cancelled at shutdown: count=%s", cancelled)
        return cancelled

    @property
    def secret(self) -> str:
        return self.settings.signing_secret.get_secret_value()
