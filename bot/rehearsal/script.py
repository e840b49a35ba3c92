"""The night's script: the organisers' set-up, their announcements and the drop, in night time.

Times are night minutes after doors (19:00). Organisers use the console commands wherever a
command can express the step. The console takes times to the minute (`+15m`), so a step timed
in seconds of a compressed night goes through the same service the command calls, and the
step list records that.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.db.types import utcnow
from bot.rehearsal.clock import NightClock, Segment
from bot.rehearsal.organiser import Organiser
from bot.rehearsal.pictures import floor_plan_png
from bot.rehearsal.stage import Stage
from bot.rehearsal.timeline import Timeline
from bot.services import announcements, drops, events

logger = logging.getLogger(__name__)

ARRIVALS = (0.0, 60.0)
LIVE_SET_AT = 70.0
DROP_AT = 120.0
CLOSE_AT = 240.0
EVENT_TITLE = "Night Market"
EVENT_ZONE = "Europe/Berlin"
DROP_TITLE = "Tote bag"
# Share of the guests the drop has stock for, so the rush sells out.
STOCK_SHARE = 0.3
# Messages the tempo plans per second. The bot's limiter keeps a margin under Telegram's 30,
# and its broadcasts ran at about 29.1 a second in the default rehearsal, so a little is left
# for messages the estimates below do not count.
PLANNED_RATE = 28.0
# Shares of the guests who open the map, open the drop card and pause announcements.
MAP_SHARE = 0.6
DROP_CARD_SHARE = 0.85
PAUSE_SHARE = 0.06
# Estimated messages to one arriving guest: the event card, the doors announcement caught up,
# the map (photo, venue, points), the drop list and card, and the card edit after Pause.
ARRIVAL_MESSAGES = 1 + 1 + MAP_SHARE * 3 + DROP_CARD_SHARE * 2 + PAUSE_SHARE
# Estimated messages per guest at T-0: the live-now announcement unless they paused, then a
# Refresh and a Claim edit of the drop card for those who hold one.
RUSH_MESSAGES = 1 - PAUSE_SHARE + DROP_CARD_SHARE * 2
# The last guests' replies queue behind the arrival window's backlog, and their chat gets one
# message a second, so they need this long after the window for card, map and drop card.
# This is an estimate, and replies still due at the next cue go out before its broadcast.
ONBOARDING_S = 3.0
# Real seconds from a cue until its broadcast sends at full rate, while the scheduler fires
# and the deliveries are fanned out. The default rehearsal took about 0.1 s for this on a
# 2-core machine, and the rest is room for a loaded one.
FAN_OUT_S = 0.5
# Rounding allowed when a compressed span is compared with the time a broadcast needs.
SPAN_TOLERANCE_S = 0.001

DOORS_TEXT = "🚪 Doors are open! Grab a drink at the bar and say hi at the merch stand."
LIVE_SET_TEXT = "🎶 The live set starts on the main stage in 10 minutes."


@dataclass(frozen=True)
class Scheduled:
    """An announcement the organisers schedule at doors for later in the night."""

    name: str
    minute: float
    text: str


SCHEDULED = (
    Scheduled("raffle", 195.0, "🎟 Raffle at the bar in 15 minutes: show your receipt to enter."),
    Scheduled("last-call", 225.0, "🍸 Last call at the bar. Thank you for coming tonight!"),
)
SETUP_COMMANDS = (
    ("event", f"/event {EVENT_TITLE}"),
    ("time zone", f"/tz {EVENT_ZONE}"),
    ("venue", "/venue Hall 7 | Dock Street 1, Hamburg"),
    ("location", "/location 53.5450 9.9690"),
    ("point of interest", "/poi Bar | Drinks until 23:00"),
    ("point of interest", "/poi Merch stand | The tote bag drop happens here at 21:00"),
    ("point of interest", "/poi Main stage | Live set from 20:10"),
)
# The name the audit log shows for steps done through the service layer.
ORGANISER_LABEL = "Olga (rehearsal)"
MAP_CAPTION = "/map Doors on the north side. The merch stand is next to the bar."


def tempo(attendees: int, extra: dict[float, float] | None = None) -> list[Segment]:
    """Return the night's segments with the real seconds each needs for `attendees` guests.

    The floors are estimates from the message counts above, plus `extra` seconds by segment
    start (what injected faults need). A segment that needs less than `--speed` gives it
    lends the difference to the segments that need more (see NightClock).
    """
    broadcast = broadcast_seconds(attendees)
    stock = max(1, math.ceil(attendees * STOCK_SHARE))
    raffle, last_call = (item.minute for item in SCHEDULED)
    floors = [
        (ARRIVALS[0], ARRIVALS[1], attendees * ARRIVAL_MESSAGES / PLANNED_RATE),
        (ARRIVALS[1], LIVE_SET_AT, ONBOARDING_S),
        (LIVE_SET_AT, DROP_AT - 30, broadcast),
        (DROP_AT - 30, DROP_AT, broadcast),
        (DROP_AT, raffle, (attendees * RUSH_MESSAGES + stock) / PLANNED_RATE + FAN_OUT_S),
        (raffle, last_call, broadcast),
        (last_call, CLOSE_AT, broadcast),
    ]
    extra = extra or {}
    return [Segment(start, end, floor + extra.get(start, 0.0)) for start, end, floor in floors]


def broadcast_seconds(attendees: int) -> float:
    """Return the real seconds from a cue until a broadcast has gone out to every guest.

    Guests who paused announcements get none. Those who blocked the bot still take a send.
    """
    return attendees * (1 - PAUSE_SHARE) / PLANNED_RATE + FAN_OUT_S


class NightScript:
    """Plays the organisers' part of the night against the running bot."""

    def __init__(
        self,
        stage: Stage,
        organiser: Organiser,
        clock: NightClock,
        timeline: Timeline,
        attendees: int,
    ) -> None:
        self.stage = stage
        self.organiser = organiser
        self.clock = clock
        self.timeline = timeline
        self.attendees = attendees
        self.stock = max(1, math.ceil(attendees * STOCK_SHARE))
        self.event_id: int | None = None
        self.drop_id: int | None = None
        self.reminder_minutes: tuple[int, ...] = ()

    async def set_up(self) -> None:
        """Set up the event, venue, points of interest and map through console commands."""
        for name, command in SETUP_COMMANDS:
            await self.organiser.command(command, name)
        local = utcnow().astimezone(ZoneInfo(EVENT_ZONE))
        await self.organiser.command(f"/when {local:%H:%M} +4h", "event times")
        await self.organiser.photo(floor_plan_png(), MAP_CAPTION, "map")
        event = await events.active_event(self.stage.bot.db)
        self.event_id = event.id if event else None

    async def open_doors(self) -> None:
        """At doors: announce them, create the drop and schedule the night's announcements."""
        await self.organiser.command(f"/announce {DOORS_TEXT}", "doors announcement")
        await self._create_drop()
        for item in SCHEDULED:
            await self._schedule(item)

    async def live_set(self) -> None:
        """Announce the live set now; above the confirmation threshold, press Confirm."""
        await self.clock.sleep_until(LIVE_SET_AT)
        reply = await self.organiser.command(f"/announce {LIVE_SET_TEXT}", "live set announcement")
        data = _button(reply or {}, "bcast:confirm:")
        if data is not None:
            await self.organiser.confirm_broadcast(
                reply or {}, data, "confirm the live set broadcast"
            )

    def expected_texts(self) -> dict[str, str]:
        """Map each announcement the night must send, by name, to its text."""
        texts = {"doors": DOORS_TEXT, "live-set": LIVE_SET_TEXT}
        texts.update({item.name: item.text for item in SCHEDULED})
        return texts

    async def _create_drop(self) -> None:
        minutes = self.clock.whole_minutes(DROP_AT, utcnow())
        if minutes is not None:
            command = (
                f"/drop {DROP_TITLE} | +{minutes}m | {self.stock} | 1 | Screen-printed tonight"
            )
            await self.organiser.command(command, "drop")
            listed = await drops.list_drops(self.stage.bot.db, self.event_id or 0)
            self.drop_id = listed[-1].id if listed else None
            self.reminder_minutes = drops.DEFAULT_REMINDER_MINUTES
            return

        service = self.stage.bot
        drop = await drops.create_drop(
            service.db,
            title=DROP_TITLE,
            description="Screen-printed tonight",
            starts_at=self.clock.utc(DROP_AT),
            stock=self.stock,
            per_person_limit=1,
            scheduler=service.scheduler,
            reminder_minutes=(),
        )
        self.drop_id = drop.id
        self.organiser.note_service(
            "drop", f"{DROP_TITLE}, {self.stock} in stock, live at {self.clock.label(DROP_AT)}"
        )
        await self._schedule_reminders(drop)

    async def _schedule_reminders(self, drop: drops.DropView) -> None:
        """Schedule the drop's reminders at compressed times, keeping the bot's wording.

        Only reminders that a broadcast to every guest can reach before T-0 are kept.
        """
        # The tempo may give the 30 minutes before T-0 exactly this long.
        broadcast_s = broadcast_seconds(self.attendees) - SPAN_TOLERANCE_S
        offsets: list[int] = []
        for offset in sorted(drops.DEFAULT_REMINDER_MINUTES, reverse=True):
            lead_s = self.clock.span(DROP_AT - offset, DROP_AT)
            previous_s = self.clock.span(DROP_AT - offsets[-1], DROP_AT) if offsets else math.inf
            if lead_s >= broadcast_s and previous_s - lead_s >= broadcast_s:
                offsets.append(offset)
        for offset in offsets:
            await announcements.create(
                self.stage.bot.db,
                self.stage.bot.scheduler,
                text=drops.reminder_text(drop.title, offset),
                created_by="micropop",
                scheduled_for=self.clock.utc(DROP_AT - offset),
                kind="reminder",
                drop_id=drop.id,
                relevant_until=drop.starts_at,
            )
        self.reminder_minutes = tuple(offsets)
        skipped = sorted(set(drops.DEFAULT_REMINDER_MINUTES) - set(offsets), reverse=True)
        detail = f"reminders {', '.join(f'{m} min' for m in offsets) or 'none'} before T-0"
        if skipped:
            detail += f"; {', '.join(str(m) for m in skipped)} min left out (too close to send)"
        self.organiser.note_service("drop reminders", detail)

    async def _schedule(self, item: Scheduled) -> None:
        minutes = self.clock.whole_minutes(item.minute, utcnow())
        if minutes is not None:
            await self.organiser.command(f"/schedule +{minutes}m {item.text}", item.name)
            return
        await announcements.create(
            self.stage.bot.db,
            self.stage.bot.scheduler,
            text=item.text,
            created_by=ORGANISER_LABEL,
            scheduled_for=self.clock.utc(item.minute),
        )
        real = timedelta(seconds=round(self.clock.offset(item.minute)))
        self.organiser.note_service(
            f"scheduled {item.name}", f"at {self.clock.label(item.minute)}, {real} after doors"
        )


def _button(message: dict[str, object], prefix: str) -> str | None:
    markup = message.get("reply_markup") or {}
    assert isinstance(markup, dict)
    for row in markup.get("inline_keyboard", []):
        for item in row:
            data = item.get("callback_data", "")
            if data.startswith(prefix):
                return data
    return None
