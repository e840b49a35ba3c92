"""Records of the emulator's traffic: method calls, change signals, and queries over both."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.params import UploadedFile
from bot.emulator.state import EmulatorState


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


class Inspection:
    """Queries and waits over what the emulator recorded, mixed into BotAPIEmulator."""

    calls: list[Call]
    state: EmulatorState
    changed: Pulse

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def messages(
        self, chat_id: int | None = None, *, include_incoming: bool = False
    ) -> list[dict[str, Any]]:
        """Return the messages as they are now, after edits and deletions, oldest first.

        Only the bot's messages are returned unless `include_incoming` is set.
        """
        if chat_id is None:
            chats = list(self.state.chats.values())
        else:
            chats = [self.state.chats[chat_id]] if chat_id in self.state.chats else []
        found = []
        for chat in chats:
            for message in chat.messages.values():
                from_bot = message.get("from", {}).get("is_bot", False)
                if from_bot or include_incoming:
                    found.append(message)
        return found

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until `predicate()` returns a truthy value and return it.

        The predicate is checked after every recorded call and at least every 50 ms, so it may
        also depend on state outside the emulator.
        """
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"Condition not met within {timeout} s")
            await self.changed.wait(min(remaining, 0.05))
        return value

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[dict[str, Any]], Any] | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Wait for a message from the bot in `chat_id` that matches `predicate` and return it."""

        def find() -> dict[str, Any] | None:
            if chat_id not in self.state.chats:
                return None
            matches = (m for m in self.messages(chat_id) if predicate is None or predicate(m))
            return next(matches, None)

        try:
            return await self.wait_for(find, timeout)
        except TimeoutError:
            texts = [m.get("text", m.get("caption")) for m in self.messages(chat_id)]
            raise TimeoutError(
                f"No matching message in chat {chat_id} within {timeout} s. Messages: {texts}"
            ) from None
