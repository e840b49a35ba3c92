"""Simulated guests: they arrive by link, open the map and the drop, pause, block, and rush T-0.

Each guest is a Telegram user of the emulator who only sends what a Telegram client sends:
/start with a payload and presses on the bot's own buttons. What each guest saw and did is
kept on the guest, so the figures can check it against the bot's database.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.emulator import User
from bot.rehearsal.arrivals import Arrivals
from bot.rehearsal.clock import NightClock
from bot.rehearsal.script import ARRIVALS, DROP_AT, DROP_CARD_SHARE, MAP_SHARE, PAUSE_SHARE
from bot.rehearsal.stage import Stage
from bot.rehearsal.timeline import Timeline

logger = logging.getLogger(__name__)

FIRST_USER_ID = 100_000
# A reply waits for its chat's budget of one message a second, and in the rush for the
# overall 30 a second. After this long the guest's action counts as unanswered.
REPLY_TIMEOUT_S = 60.0
SOURCE_WEIGHTS = {"poster": 0.45, "beacon": 0.30, "slip": 0.10, "shared": 0.15}

Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Guest:
    """One simulated guest: the plan drawn for them, then what happened."""

    user: User
    source: str
    arrive_at: float
    opens_map: bool
    opens_drop: bool
    pauses: bool
    blocks_at: float | None
    rush_delay_s: float
    arrived: bool = False
    arrived_at: float | None = None
    used: str = ""
    blocked: bool = False
    drop_card: dict[str, Any] | None = None
    claim: str = ""
    receipt: bool = False
    unanswered: list[str] = field(default_factory=list)

    @property
    def steady(self) -> bool:
        """True for a guest who arrived and stayed subscribed and reachable all night."""
        return self.arrived and not self.pauses and self.blocks_at is None


def plan(count: int, seed: int) -> list[Guest]:
    """Draw the crowd: when and how each guest arrives and what they do."""
    rng = random.Random(seed)
    start, end = ARRIVALS
    guests = []
    for number in range(count):
        language = "de" if rng.random() < 0.2 else "en"
        user = User(FIRST_USER_ID + number, f"Guest {number + 1:03d}", language_code=language)
        blocks = rng.random() < 0.05
        guests.append(
            Guest(
                user=user,
                source=rng.choices(list(SOURCE_WEIGHTS), list(SOURCE_WEIGHTS.values()))[0],
                # Most guests come early; a tail arrives until the end of the window.
                arrive_at=start + (end - start) * rng.betavariate(1.2, 2.0),
                opens_map=rng.random() < MAP_SHARE,
                opens_drop=rng.random() < DROP_CARD_SHARE,
                pauses=rng.random() < PAUSE_SHARE,
                blocks_at=rng.uniform(ARRIVALS[1] + 10, 200.0) if blocks else None,
                rush_delay_s=min(rng.expovariate(1 / 1.2), 6.0),
            )
        )
    return guests


class Crowd:
    """Runs every guest's evening as its own task."""

    def __init__(
        self,
        stage: Stage,
        arrivals: Arrivals,
        clock: NightClock,
        timeline: Timeline,
        guests: list[Guest],
    ) -> None:
        self.stage = stage
        self.arrivals = arrivals
        self.clock = clock
        self.timeline = timeline
        self.guests = guests
        self.drop_id: int | None = None
        # What each update the guests sent was, by update id, to name unfinished ones.
        self.updates: dict[int, str] = {}

    @property
    def emulator(self):  # type: ignore[no-untyped-def]
        return self.stage.emulator

    async def run(self, drop_id: int | None) -> None:
        self.drop_id = drop_id
        for guest in self.guests:
            self.emulator.user(
                guest.user.id, guest.user.first_name, language_code=guest.user.language_code
            )
        await asyncio.gather(*(self._evening(guest) for guest in self.guests))

    def arrived(self) -> int:
        return sum(guest.arrived for guest in self.guests)

    async def _evening(self, guest: Guest) -> None:
        try:
            await self._arrive(guest)
            if guest.arrived:
                await self._browse(guest)
                await self._rush(guest)
            if guest.blocks_at is not None and not guest.blocked:
                await self._block(guest)
        except Exception:  # noqa: BLE001 - one guest's failure must not end the night
            logger.exception("Guest failed: user_id=%s", guest.user.id)
            guest.unanswered.append("guest task failed (see rehearsal.log)")

    async def _arrive(self, guest: Guest) -> None:
        await self.clock.sleep_until(guest.arrive_at)
        payload, guest.used = await self.arrivals.payload_for(guest.source)
        since = self._last_id(guest)
        update_id = self.emulator.send_start(guest.user, payload)
        self.updates[update_id] = f"/start of {guest.user.first_name}"
        card = await self._wait(
            guest,
            "event card after /start",
            lambda m: m["message_id"] > since and _has(m, "menu:map"),
        )
        if card is None:
            return
        guest.arrived = True
        guest.arrived_at = time.monotonic()
        if self.arrived() in (1, len(self.guests) // 2, len(self.guests)):
            self.timeline.add("crowd", f"{self.arrived()} of {len(self.guests)} guests arrived")
        if guest.pauses:
            await self._pause(guest, card)

    async def _browse(self, guest: Guest) -> None:
        card = self._event_card(guest)
        if card is None:
            return
        if guest.opens_map:
            since = self._last_id(guest)
            self._press(guest, card, "menu:map")
            await self._wait(
                guest, "map after Map", lambda m: m["message_id"] > since and "photo" in m
            )
        if guest.opens_drop:
            since = self._last_id(guest)
            self._press(guest, card, "menu:drops")
            listing = await self._wait(
                guest,
                "drop list after Drops",
                lambda m: m["message_id"] > since and _has(m, "dr:o:"),
            )
            if listing is None:
                return
            since = self._last_id(guest)
            self._press(guest, listing, _button(listing, "dr:o:") or "")
            guest.drop_card = await self._wait(
                guest,
                "drop card after Open",
                lambda m: m["message_id"] > since and _has(m, "dr:r:"),
            )

    async def _pause(self, guest: Guest, card: dict[str, Any]) -> None:
        before = _labels(card)
        self._press(guest, card, "menu:notify")
        await self._wait(
            guest, "card update after Pause", lambda m: m is card and _labels(m) != before
        )

    async def _rush(self, guest: Guest) -> None:
        card = guest.drop_card
        if card is None or (guest.blocks_at is not None and guest.blocks_at <= DROP_AT):
            return
        await self.clock.sleep_until(DROP_AT)
        await asyncio.sleep(guest.rush_delay_s)

        if not _has(card, "dr:c:"):
            before = _labels(card)
            self._press(guest, card, _button(card, "dr:r:") or "")
            refreshed = await self._wait(
                guest, "drop card after Refresh", lambda m: m is card and _labels(m) != before
            )
            if refreshed is None:
                return
        claim = _button(card, "dr:c:")
        if claim is None:
            guest.claim = "no claim button (sold out)"
            return
        since = self._last_id(guest)
        query_id = self._press(guest, card, claim)
        answer = await self._answer(guest, query_id)
        if answer is None:
            return
        # The bot shows an alert only when the claim did not succeed (sold out, limit).
        guest.claim = "rejected" if answer.get("show_alert") else "claimed"
        if guest.claim == "claimed":
            await self._receipt(guest, since)

    async def _receipt(self, guest: Guest, since: int) -> None:
        photo = await self._wait(
            guest, "receipt after Claim", lambda m: m["message_id"] > since and "photo" in m
        )
        guest.receipt = photo is not None

    async def _block(self, guest: Guest) -> None:
        await self.clock.sleep_until(guest.blocks_at or 0)
        self.emulator.block_chat(guest.user.id)
        guest.blocked = True

    def _press(self, guest: Guest, message: dict[str, Any], data: str) -> str:
        """Press a button and return the callback query id the press created."""
        update_id = self.emulator.press_button(guest.user, message, data)
        self.updates[update_id] = f"{guest.user.first_name} pressed {data}"
        # press_button stores the query last, and nothing ran in between.
        return next(reversed(self.emulator.state.callback_queries))

    async def _answer(self, guest: Guest, query_id: str) -> dict[str, Any] | None:
        queries = self.emulator.state.callback_queries
        try:
            return await self.emulator.wait_for(
                lambda: queries.get(query_id, {}).get("answer"), timeout=REPLY_TIMEOUT_S
            )
        except TimeoutError:
            guest.unanswered.append("answer to Claim")
            return None

    async def _wait(self, guest: Guest, what: str, predicate: Predicate) -> dict[str, Any] | None:
        try:
            return await self.emulator.wait_for_message(guest.user.id, predicate, REPLY_TIMEOUT_S)
        except TimeoutError:
            guest.unanswered.append(what)
            logger.warning("Guest got no reply: user_id=%s waited_for=%s", guest.user.id, what)
            return None

    def _event_card(self, guest: Guest) -> dict[str, Any] | None:
        cards = [m for m in self.emulator.messages(guest.user.id) if _has(m, "menu:map")]
        return cards[-1] if cards else None

    def _last_id(self, guest: Guest) -> int:
        return max((m["message_id"] for m in self.emulator.messages(guest.user.id)), default=0)


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [item for row in markup.get("inline_keyboard", []) for item in row]


def _has(message: dict[str, Any], prefix: str) -> bool:
    return _button(message, prefix) is not None


def _button(message: dict[str, Any], prefix: str) -> str | None:
    for item in _buttons(message):
        if item.get("callback_data", "").startswith(prefix):
            return item["callback_data"]
    return None


def _labels(message: dict[str, Any]) -> tuple[str, ...]:
    return (message.get("text") or "", *(item.get("text", "") for item in _buttons(message)))
