"""The night's clock: night minutes after doors mapped onto real time, compressed by `speed`.

Compression cannot shrink Telegram's limits: 150 guests arriving need the same messages
whether they come over 75 minutes or 20 seconds. So the night is cut into segments between
its cues, and a segment that would be too short for the messages it needs gets the real time
they take (its floor). The segments that need less than `speed` gives them make up for that
time, down to their own floors, so the segments together last as long as `speed` gives them
or as long as their floors add up to, whichever is longer. Outside the segments the night
runs `speed` times faster than real time.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# The script's times are labelled as if doors opened at 19:00 local time.
DOORS_MINUTES = 19 * 60


@dataclass(frozen=True)
class Segment:
    """A stretch of the night that must last at least `floor_s` real seconds."""

    start: float
    end: float
    floor_s: float = 0.0


@dataclass
class NightClock:
    """Maps night minutes (0 at doors) to real monotonic time once `start` has been called."""

    speed: float
    segments: Sequence[Segment] = ()
    started_at: float | None = None
    # time.time() minus time.monotonic(), to turn monotonic stamps into wall-clock ones.
    wall_offset: float = field(default_factory=lambda: time.time() - time.monotonic())
    _minutes: list[float] = field(default_factory=list, init=False, repr=False)
    _seconds: list[float] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        """Build the breakpoints: night minute -> real seconds after doors."""
        segments = sorted(self.segments, key=lambda item: item.start)
        minutes, seconds = [0.0], [0.0]
        for segment, length in zip(segments, self._lengths(segments), strict=True):
            if segment.start > minutes[-1]:
                minutes.append(segment.start)
                seconds.append(seconds[-1] + self._plain(segment.start - minutes[-2]))
            minutes.append(segment.end)
            seconds.append(seconds[-1] + length)
        self._minutes, self._seconds = minutes, seconds

    def _lengths(self, segments: Sequence[Segment]) -> list[float]:
        """Return each segment's real seconds: stretched to its floor, or shortened to make up.

        The seconds that stretched segments add are taken back from the segments whose plain
        length exceeds their floor, in proportion to that spare time and never below a floor.
        """
        plain = [self._plain(segment.end - segment.start) for segment in segments]
        floors = [segment.floor_s for segment in segments]
        added = sum(max(0.0, floor - length) for floor, length in zip(floors, plain, strict=True))
        spare = [max(0.0, length - floor) for floor, length in zip(floors, plain, strict=True)]
        returned_share = min(1.0, added / sum(spare)) if sum(spare) > 0 else 0.0
        return [
            max(length, floor) - extra * returned_share
            for floor, length, extra in zip(floors, plain, spare, strict=True)
        ]

    def _plain(self, minutes: float) -> float:
        return minutes * 60.0 / self.speed

    def start(self) -> None:
        self.started_at = time.monotonic()

    @property
    def origin(self) -> float:
        if self.started_at is None:
            raise RuntimeError("The night has not started: call NightClock.start() first")
        return self.started_at

    def offset(self, minute: float) -> float:
        """Return the real seconds from doors to a night minute."""
        index = max(0, min(bisect.bisect_right(self._minutes, minute) - 1, len(self._minutes) - 1))
        if index == len(self._minutes) - 1:
            return self._seconds[-1] + self._plain(minute - self._minutes[-1])
        low, high = self._minutes[index], self._minutes[index + 1]
        share = (minute - low) / (high - low)
        return self._seconds[index] + share * (self._seconds[index + 1] - self._seconds[index])

    def span(self, start: float, end: float) -> float:
        """Return the real seconds between two night minutes."""
        return self.offset(end) - self.offset(start)

    def at(self, minute: float) -> float:
        """Return the monotonic time of a night minute."""
        return self.origin + self.offset(minute)

    def utc(self, minute: float) -> datetime:
        """Return the UTC wall-clock time of a night minute."""
        return datetime.fromtimestamp(self.at(minute) + self.wall_offset, UTC)

    def minute(self, monotonic: float | None = None) -> float:
        """Return the night minute of a monotonic time (now by default)."""
        return self._minute_at(self.elapsed(monotonic))

    def after(self, minute: float, seconds: float) -> float:
        """Return the night minute `seconds` of real time after `minute`."""
        return self._minute_at(self.offset(minute) + seconds)

    def elapsed(self, monotonic: float | None = None) -> float:
        """Return real seconds since doors (0 before the night starts)."""
        if self.started_at is None:
            return 0.0
        now = time.monotonic() if monotonic is None else monotonic
        return now - self.started_at

    def _minute_at(self, offset: float) -> float:
        seconds = self._seconds
        index = max(0, min(bisect.bisect_right(seconds, offset) - 1, len(seconds) - 1))
        if index == len(seconds) - 1:
            return self._minutes[-1] + (offset - seconds[-1]) * self.speed / 60.0
        low, high = seconds[index], seconds[index + 1]
        share = (offset - low) / (high - low) if high > low else 0.0
        return self._minutes[index] + share * (self._minutes[index + 1] - self._minutes[index])

    def to_monotonic(self, moment: datetime) -> float:
        return moment.timestamp() - self.wall_offset

    async def sleep_until(self, minute: float) -> None:
        delay = self.at(minute) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def label(self, minute: float | None = None) -> str:
        """Return the night's clock time of a minute, e.g. 21:00, wrapping past midnight."""
        value = self.minute() if minute is None else minute
        # A time converted to a UTC datetime and back is off by up to about a microsecond,
        # which is several millionths of a minute in a compressed night. The epsilon (0.06 s
        # of night time) keeps 89.99999 from showing 20:29.
        total = math.floor(DOORS_MINUTES + max(value, -DOORS_MINUTES) + 1e-3) % (24 * 60)
        return f"{total // 60:02d}:{total % 60:02d}"

    def whole_minutes(self, minute: float, now: datetime) -> int | None:
        """Return how many whole real minutes from `now` a night minute is, if it is exactly that.

        Organiser commands take times to the minute (`+15m`), so a scripted time can be typed
        as a command only when it lies a whole number of real minutes ahead.
        """
        ahead = (self.utc(minute) - now) / timedelta(minutes=1)
        rounded = round(ahead)
        if rounded >= 1 and abs(ahead - rounded) * 60 <= 1.0:
            return rounded
        return None
