"""The organiser at the console: commands typed into the organiser group, replies awaited."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Announcement, AnnouncementStatus, ProcessedUpdate
from bot.rehearsal.stage import Stage
from bot.rehearsal.timeline import Timeline

logger = logging.getLogger(__name__)

# Console replies share the group's 20 messages a minute with progress messages, so a reply
# may wait for a slot; this bounds the wait.
REPLY_TIMEOUT_S = 70.0
# Messages the bot posts to the group on its own (progress, venue alerts, stock board,
# sold-out notice); anything else after a command is its reply.
UNPROMPTED = re.compile(r"^(Announcement \d+ (sending|finished):|Venue |📦|🔥)")


@dataclass(frozen=True)
class Step:
    """One set-up or night step of the organiser, and how it reached the bot."""

    name: str
    via: str  # "command" or "service"
    detail: str
    ok: bool = True


class Organiser:
    """Types commands as the organiser (an administrator of the organiser group)."""

    def __init__(self, stage: Stage, monitor: Database, timeline: Timeline) -> None:
        self.stage = stage
        self.monitor = monitor
        self.timeline = timeline
        self.steps: list[Step] = []
        # What each update the organiser sent was, by update id.
        self.updates: dict[int, str] = {}

    @property
    def chat_id(self) -> int:
        assert self.stage.organisers is not None
        return self.stage.organisers.id

    async def command(self, text: str, name: str) -> dict[str, Any] | None:
        """Send a command and return the bot's reply; an error reply is recorded as failed."""
        before = self._last_bot_message_id()
        update_id = self.stage.organiser_says(text)
        self.updates[update_id] = f"organiser's {text.split()[0]}"
        reply = await self._reply(update_id, before, text)
        self._record(name, text, reply)
        return reply

    async def photo(self, data: bytes, caption: str, name: str) -> dict[str, Any] | None:
        """Send a photo with a caption command, such as the map with /map."""
        assert self.stage.organiser is not None
        before = self._last_bot_message_id()
        update_id = self.stage.emulator.send_photo(
            self.stage.organiser, chat=self.stage.organisers, caption=caption, data=data
        )
        reply = await self._reply(update_id, before, caption)
        self._record(name, f"[photo] {caption}", reply)
        return reply

    async def confirm_broadcast(self, message: dict[str, Any], data: str, name: str) -> bool:
        """Press a broadcast's Confirm button and check that the announcement left confirmation.

        The bot handles a press that does not confirm as well, for example when a second
        organiser must confirm, so a handled press alone does not show that it worked.
        """
        assert self.stage.organiser is not None
        announcement_id = int(data.rpartition(":")[2])
        update_id = self.stage.emulator.press_button(self.stage.organiser, message, data)
        self.updates[update_id] = f"organiser pressed {data}"
        problem = None
        if not await self._handled(update_id):
            problem = "was not handled"
        else:
            status = await self._announcement_status(announcement_id)
            if status in (None, AnnouncementStatus.AWAITING_CONFIRMATION):
                state = status.value if status else "missing"
                problem = f"did not confirm: announcement {announcement_id} is {state}"
        self._record_press(name, data, problem)
        return problem is None

    def _record_press(self, name: str, data: str, problem: str | None) -> None:
        self.steps.append(Step(name, "command", f"pressed {data}", ok=problem is None))
        if problem is None:
            self.timeline.add("cue", f"Organiser pressed {data} ({name})")
        else:
            self.timeline.add("problem", f"Organiser's press {data} {problem} ({name})")

    async def _announcement_status(self, announcement_id: int) -> AnnouncementStatus | None:
        async with self.monitor.transaction(readonly=True) as session:
            return await session.scalar(
                select(Announcement.status).where(Announcement.id == announcement_id)
            )

    def note_service(self, name: str, detail: str) -> None:
        """Record a step done through a service because no command can express it."""
        self.steps.append(Step(name, "service", detail))
        self.timeline.add("setup", f"{name} via the service layer: {detail}")

    def failures(self) -> list[Step]:
        return [step for step in self.steps if not step.ok]

    async def _reply(self, update_id: int, before: int, sent: str) -> dict[str, Any] | None:
        if not await self._handled(update_id):
            return None
        # The handler sent its reply before it finished, so the reply is already recorded.
        for message in self._bot_messages_after(before):
            text = message.get("text") or message.get("caption") or ""
            if not UNPROMPTED.match(text):
                return message
        logger.warning("Organiser command handled without a reply: command=%r", sent[:40])
        return {}

    async def _handled(self, update_id: int) -> bool:
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while time.monotonic() < deadline:
            async with self.monitor.transaction(readonly=True) as session:
                done = await session.scalar(
                    select(ProcessedUpdate.handled_at).where(
                        ProcessedUpdate.update_id == update_id
                    )
                )
            if done is not None:
                return True
            await asyncio.sleep(0.05)
        return False

    def _record(self, name: str, sent: str, reply: dict[str, Any] | None) -> None:
        text = "" if reply is None else (reply.get("text") or reply.get("caption") or "")
        ok = reply is not None and not text.startswith("⚠️")
        self.steps.append(Step(name, "command", sent, ok=ok))
        first_line = text.splitlines()[0] if text else "no reply"
        kind = "setup" if self.timeline.clock.started_at is None else "cue"
        if ok:
            self.timeline.add(kind, f"Organiser: {sent.splitlines()[0][:70]} -> {first_line[:70]}")
        else:
            self.timeline.add("problem", f"Organiser command failed: {sent[:70]} -> {first_line}")

    def _bot_messages(self) -> list[dict[str, Any]]:
        return self.stage.emulator.messages(self.chat_id)

    def _last_bot_message_id(self) -> int:
        return max((m["message_id"] for m in self._bot_messages()), default=0)

    def _bot_messages_after(self, message_id: int) -> list[dict[str, Any]]:
        return [m for m in self._bot_messages() if m["message_id"] > message_id]
