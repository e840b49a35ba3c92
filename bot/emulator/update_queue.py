"""Pending updates, shared by getUpdates long polling and webhook delivery."""

from collections import deque
from typing import Any

from bot.emulator.records import Pulse

# Bot API: without allowed_updates, every update type except these three is delivered.
OPT_IN_TYPES = {"chat_member", "message_reaction", "message_reaction_count"}


def update_type(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def update_chat_id(update: dict[str, Any]) -> int | None:
    """Return the chat an update belongs to, used to keep one chat's updates in order."""
    body = update.get(update_type(update))
    if not isinstance(body, dict):
        return None
    chat = body.get("chat") or (body.get("message") or {}).get("chat")
    if isinstance(chat, dict):
        return chat.get("id")
    sender = body.get("from")
    return sender.get("id") if isinstance(sender, dict) else None


class UpdateQueue:
    """Updates not yet confirmed by getUpdates or accepted by the webhook, oldest first."""

    def __init__(self) -> None:
        self.pending: deque[dict[str, Any]] = deque()
        self.allowed: set[str] | None = None
        self.closed = False
        self.poller: object | None = None
        self._next_id = 1
        self._wakeup = Pulse()

    def put(self, fields: dict[str, Any]) -> int:
        """Queue an update built from `fields` (or a whole update with its own update_id)."""
        update_id = fields.get("update_id") or self._next_id
        self._next_id = max(self._next_id, update_id + 1)
        update = {"update_id": update_id} | {k: v for k, v in fields.items() if k != "update_id"}
        self.pending.append(update)
        self.wake()
        return update_id

    def wake(self) -> None:
        self._wakeup.notify()

    async def wait(self, timeout: float) -> None:
        """Wait until an update is queued, a poller is replaced or the queue closes."""
        await self._wakeup.wait(timeout)

    def set_allowed(self, allowed: Any) -> None:
        self.allowed = set(allowed) if isinstance(allowed, list) and allowed else None

    def is_allowed(self, update: dict[str, Any]) -> bool:
        kind = update_type(update)
        return kind in self.allowed if self.allowed is not None else kind not in OPT_IN_TYPES

    def confirm(self, offset: int) -> None:
        """Forget updates the client confirmed: ids below `offset`, or all but the last -offset."""
        if offset > 0:
            while self.pending and self.pending[0]["update_id"] < offset:
                self.pending.popleft()
        elif offset < 0:
            while len(self.pending) > -offset:
                self.pending.popleft()

    def take(self, limit: int) -> list[dict[str, Any]]:
        """Return up to `limit` pending updates, dropping those the client did not subscribe to."""
        taken: list[dict[str, Any]] = []
        while self.pending and len(taken) < limit:
            update = self.pending.popleft()
            if self.is_allowed(update):
                taken.append(update)
        # Taken updates stay pending until a later offset confirms them.
        self.pending.extendleft(reversed(taken))
        return taken

    def remove(self, update: dict[str, Any]) -> None:
        try:
            self.pending.remove(update)
        except ValueError:
            pass

    def clear(self) -> None:
        self.pending.clear()
        self.wake()

    def close(self) -> None:
        self.closed = True
        self.wake()
