"""Job functions the scheduler stores by reference; their arguments are ids, never objects.

A stored job names its runtime by key (derived from the database URL), so the same job row
finds the live database, workers and organiser chat after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.db.engine import Database
from bot.services import announcements

logger = logging.getLogger(__name__)


@dataclass
class JobRuntime:
    """What running jobs need from the bot service."""

    db: Database
    grace: timedelta
    wake_workers: Callable[[], None]
    notify_organisers: Callable[[str], Awaitable[None]]
    periodic: dict[str, Callable[[], Awaitable[object]]]


RUNTIMES: dict[str, JobRuntime] = {}


def runtime(key: str) -> JobRuntime | None:
    found = RUNTIMES.get(key)
    if found is None:
        logger.error("Job skipped: no runtime for key=%s (service not started)", key)
    return found


async def fire_announcement(key: str, announcement_id: int) -> None:
    """Fan an announcement out at its time, or report it missed when too late."""
    context = runtime(key)
    if context is None:
        return
    # One line per run, so a job run twice (by two overlapping leaders) shows in the log.
    logger.info("Announcement job running: announcement_id=%s", announcement_id)
    result = await announcements.fan_out(context.db, announcement_id, grace=context.grace)
    if result is None:
        logger.info(
            "Announcement job found nothing to send: announcement_id=%s (fanned out already "
            "or cancelled)",
            announcement_id,
        )
        return
    if result.missed:
        minutes = int(result.late_by.total_seconds() // 60)
        await context.notify_organisers(
            f"Announcement {announcement_id} was missed: the bot was down at its time and it "
            f"is now {minutes} min late, beyond the {int(context.grace.total_seconds() // 60)} "
            "min grace. Send it again with /announce if it still matters."
        )
        return
    context.wake_workers()


async def run_periodic(key: str, name: str) -> None:
    """Run a named periodic task of the service (hold expiry, purges)."""
    context = runtime(key)
    if context is None:
        return
    task = context.periodic.get(name)
    if task is None:
        logger.error("Periodic job unknown: name=%s", name)
        return
    await task()
