"""Broadcast progress in the organiser group: one message per announcement, edited as it goes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.db.engine import Database
from bot.delivery import metrics, outbox
from bot.services import announcements

logger = logging.getLogger(__name__)

# The organiser group shares Telegram's 20-messages-a-minute group budget with command replies,
# so a progress message is edited at most this often.
EDIT_INTERVAL_S = 5.0
CHECK_INTERVAL_S = 1.0

SendFunction = Callable[[str], Awaitable[int | None]]
EditFunction = Callable[[int, str], Awaitable[int | None]]


def describe(announcement_id: int, counts: dict[str, int], *, final: bool) -> str:
    order = ("sent", "pending", "sending", "unreachable", "failed", "uncertain", "expired")
    parts = [f"{state} {counts[state]}" for state in order if counts.get(state)]
    head = "finished" if final else "sending"
    return f"Announcement {announcement_id} {head}: " + (", ".join(parts) or "no recipients")


class ProgressReporter:
    """Posts and edits a progress message per sending announcement, then a final summary."""

    def __init__(self, db: Database, send: SendFunction, edit: EditFunction) -> None:
        self.db = db
        self.send = send
        self.edit = edit
        self._messages: dict[int, int | None] = {}
        self._shown: dict[int, str] = {}
        self._edited_at: dict[int, float] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - progress is informative; never stop on it
                logger.exception("Progress update failed")
            await asyncio.sleep(CHECK_INTERVAL_S)

    async def check(self) -> None:
        metrics.QUEUE_DEPTH.set(await outbox.queue_depth(self.db))
        # Every finished announcement is marked done before any message goes out, because a
        # message may wait a minute for the organiser group's 20 a minute limit.
        finished: dict[int, dict[str, int]] = {}
        in_progress: list[int] = []
        for announcement_id in await outbox.sending_announcements(self.db):
            final = await announcements.finish_if_complete(self.db, announcement_id)
            if final is None:
                in_progress.append(announcement_id)
                continue
            finished[announcement_id] = final
            logger.info(
                "Announcement finished: announcement_id=%s counts=%s", announcement_id, final
            )
        for announcement_id, final in finished.items():
            await self._show(announcement_id, describe(announcement_id, final, final=True))
            self._forget(announcement_id)
        for announcement_id in in_progress:
            now = time.monotonic()
            if now - self._edited_at.get(announcement_id, 0.0) < EDIT_INTERVAL_S:
                continue
            counts = await announcements.counts_for(self.db, announcement_id)
            await self._show(announcement_id, describe(announcement_id, counts, final=False))

    async def _show(self, announcement_id: int, text: str) -> None:
        if self._shown.get(announcement_id) == text:
            return
        if announcement_id not in self._messages:
            # Kept in the announcement row, so a restarted bot edits the same message.
            self._messages[announcement_id] = await announcements.progress_message(
                self.db, announcement_id
            )
        message_id = self._messages[announcement_id]
        if message_id is None:
            shown_in = await self.send(text)
        else:
            # An edit may come back with another message id (after a group migration).
            shown_in = await self.edit(message_id, text) or message_id
        if shown_in != message_id:
            self._messages[announcement_id] = shown_in
            await announcements.set_progress_message(self.db, announcement_id, shown_in)
        self._shown[announcement_id] = text
        self._edited_at[announcement_id] = time.monotonic()

    def _forget(self, announcement_id: int) -> None:
        self._messages.pop(announcement_id, None)
        self._shown.pop(announcement_id, None)
        self._edited_at.pop(announcement_id, None)
