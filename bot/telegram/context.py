"""What handlers receive besides the update: settings, database and helpers, built per app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.db.engine import Database
from bot.services.announcements import JobScheduler
from bot.settings import Settings


@dataclass
class BotContext:
    """Passed to every handler as `ctx` through the dispatcher's workflow data."""

    settings: Settings
    db: Database
    scheduler: JobScheduler
    wake_workers: Callable[[], None] = lambda: None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def secret(self) -> str:
        return self.settings.signing_secret.get_secret_value()
