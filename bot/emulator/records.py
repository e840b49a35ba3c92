"""Records of the emulator's traffic: every method call, and a wake-up signal for waiting tests."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.params import UploadedFile


@dataclass
class Call:
    """One Bot API method call as the emulator handled it.

    `status` is the HTTP status sent, or 0 when the connection was aborted before a response.
    `source` is "http" for requests and "webhook" for a method returned in a webhook response;
    `fault` names the injected fault kind that fired, if any.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    status: int
    response: dict[str, Any] | None
    at: float
    chat_id: int | str | None
    source: str = "http"
    fault: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result") if self.response else None


@dataclass
class Pulse:
    """An event that wakes every current waiter each time something changes."""

    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """Wait for the next change; return False if `timeout` seconds pass first."""
        # asyncio.timeout, unlike wait_for in Python 3.11, never swallows a cancellation that
        # arrives together with the event.
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            return False
        return True
