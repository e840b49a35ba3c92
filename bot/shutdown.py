"""Stopping background tasks at shutdown: a grace period, then cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def drain(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> int:
    """Let `tasks` finish for up to `timeout` seconds, cancel the rest and return their count."""
    running = set(tasks)
    if not running:
        return 0
    _, late = await asyncio.wait(running, timeout=timeout)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return len(late)
