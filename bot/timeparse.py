"""Organiser time input: `HH:MM`, `+15m`/`+2h`/`+1h30m` and `YYYY-MM-DD HH:MM` in a time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import InputError

CLOCK_RE = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})")
OFFSET_RE = re.compile(r"\+(?:(?P<hours>\d{1,5})h)?(?:(?P<minutes>\d{1,6})m)?")
DATE_TIME_RE = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<clock>\d{1,2}:\d{2})")
# A WHEN at the start of a command's arguments: a date with its time, or a single token.
LEADING_WHEN_RE = re.compile(r"\s*(\d{4}-\d{2}-\d{2}[ T]\S+|\S+)\s*(.*)", re.DOTALL)
# Nothing an organiser sets up is planned further ahead, and the cap keeps datetime in range.
MAX_AHEAD = timedelta(days=366)
# Keeps the UTC conversion of a local date within datetime's range (years 1 to 9999).
MIN_YEAR, MAX_YEAR = 1970, 9998
FORMS = "HH:MM, +15m or YYYY-MM-DD HH:MM"


def parse_when(text: str, zone: str, now: datetime) -> datetime:
    """Parse a future moment typed by an organiser into a timezone-aware UTC datetime.

    `HH:MM` is its next occurrence in `zone`, `+1h30m` an offset from `now`, and
    `YYYY-MM-DD HH:MM` a local date and time in `zone`. A local time that a DST change skips
    moves forward by the gap, and one that it repeats is its first occurrence still ahead. Raises
    InputError naming the value and the accepted forms.
    """
    tz = ZoneInfo(zone)
    value = " ".join(text.split())
    if match := OFFSET_RE.fullmatch(value):
        result = now + _offset(value, match, zone)
    elif CLOCK_RE.fullmatch(value):
        result = next_occurrence(_clock(value, value, zone), tz, now)
    elif match := DATE_TIME_RE.fullmatch(value):
        result = first_instant(_local(value, match, zone), tz)
        if result <= now:
            local_now = now.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            raise invalid(value, zone, f"it is in the past (now {local_now})")
    else:
        raise invalid(value, zone)

    if result - now > MAX_AHEAD:
        raise invalid(value, zone, f"it is more than {MAX_AHEAD.days} days ahead")
    return result.astimezone(UTC)


def parse_local(text: str, zone: str, *, today: date) -> datetime:
    """Parse `YYYY-MM-DD HH:MM`, or `HH:MM` on `today`, in `zone` into UTC (past allowed)."""
    value = " ".join(text.split())
    invalid_local = InputError(
        f'Invalid time "{value}": use YYYY-MM-DD HH:MM, or HH:MM for today, '
        f"in the event's time zone ({zone})."
    )
    try:
        if match := DATE_TIME_RE.fullmatch(value):
            naive = _local(value, match, zone)
        elif CLOCK_RE.fullmatch(value):
            naive = datetime.combine(today, _clock(value, value, zone))
        else:
            raise invalid_local
    except InputError:
        # The shared checks name forms such as +15m, which a local time does not accept.
        raise invalid_local from None
    return first_instant(naive, ZoneInfo(zone)).astimezone(UTC)


def parse_span(args: str, zone: str, now: datetime) -> tuple[datetime, datetime]:
    """Parse the `START END` of an event into two UTC datetimes.

    START is as in `parse_local`, today being `now`'s date in `zone`. END is
    `YYYY-MM-DD HH:MM`, `HH:MM` (its first occurrence after START, so 19:00 02:00 ends the
    next day) or a duration such as `+5h`. Raises InputError if END is not after START or
    not after `now`.
    """
    start_text, end_text = split_leading_when(args)
    if not start_text or not end_text:
        raise InputError(
            f'Invalid times "{" ".join(args.split())}": use START END, e.g. '
            f"2026-12-04 19:00 23:30 or 19:00 +5h, in the event's time zone ({zone})."
        )
    tz = ZoneInfo(zone)
    start = parse_local(start_text, zone, today=now.astimezone(tz).date())

    end_value = " ".join(end_text.split())
    if match := OFFSET_RE.fullmatch(end_value):
        end = start + _offset(end_value, match, zone)
    elif CLOCK_RE.fullmatch(end_value):
        end = next_occurrence(_clock(end_value, end_value, zone), tz, start)
    else:
        end = parse_local(end_value, zone, today=start.astimezone(tz).date())
    if end <= start:
        raise InputError(
            f'Invalid end "{end_value}": the event must end after it starts ({start_text}).'
        )
    # A start in the past is accepted while the event is still on, so organisers can correct
    # the times of a night in progress.
    if end <= now:
        local_now = now.astimezone(tz)
        raise InputError(
            f'Invalid times "{" ".join(args.split())}": the event would be over already '
            f"(now {local_now.strftime('%Y-%m-%d %H:%M')}), so use START END, e.g. "
            f"{local_now.date().isoformat()} 19:00 23:30 or 19:00 +5h, "
            f"in the event's time zone ({zone})."
        )
    return start, end.astimezone(UTC)


def split_leading_when(args: str) -> tuple[str, str]:
    """Split `WHEN REST` into the WHEN part (one token, or a date with its time) and the rest."""
    match = LEADING_WHEN_RE.fullmatch(args or "")
    if match is None:
        return "", ""
    return match.group(1), match.group(2).strip()


def next_occurrence(clock: time, tz: ZoneInfo, now: datetime) -> datetime:
    """Return the first instant after `now` at which clocks in `tz` show `clock`.

    A time skipped by a DST change on the day in question counts as the instant that
    `first_instant` maps it to.
    """
    local_today = now.astimezone(tz).date()
    # Three days cover a zone that skipped a whole calendar day (Pacific/Apia, 2011-12-30).
    for days in range(3):
        naive = datetime.combine(local_today + timedelta(days=days), clock)
        for instant in instants(naive, tz):
            if instant > now:
                return instant
    raise AssertionError(f"no occurrence of {clock} in {tz.key} within three days of {now}")


def first_instant(naive: datetime, tz: ZoneInfo) -> datetime:
    """Return the instant of a local time: the first of a repeated one, shifted past a gap."""
    return instants(naive, tz)[0]


def instants(naive: datetime, tz: ZoneInfo) -> list[datetime]:
    """List the instants, in order, at which clocks in `tz` show `naive`.

    An ordinary time has one and a time repeated when clocks go back has two. A time skipped
    when clocks go forward has none, so it maps to the instant of fold=0, which PEP 495 defines
    with the offset from before the change: the wall time moved forward by the gap.
    """
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return [first]
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        return [first]
    return sorted([first, second], key=lambda moment: moment.astimezone(UTC))


def invalid(value: str, zone: str, reason: str = "") -> InputError:
    """Build the error for a rejected time: the value, the reason and the accepted forms."""
    because = f"{reason}, so " if reason else ""
    return InputError(
        f'Invalid time "{value}": {because}use {FORMS} in the event\'s time zone ({zone}).'
    )


def _offset(value: str, match: re.Match[str], zone: str) -> timedelta:
    hours, minutes = match.group("hours"), match.group("minutes")
    if hours is None and minutes is None:
        raise invalid(value, zone, "an offset needs hours or minutes")
    offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    if offset < timedelta(minutes=1):
        raise invalid(value, zone, "an offset must be at least 1 minute")
    return offset


def _local(value: str, match: re.Match[str], zone: str) -> datetime:
    try:
        day = date.fromisoformat(match.group("date"))
    except ValueError:
        raise invalid(value, zone) from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise invalid(value, zone, f"the year must be from {MIN_YEAR} to {MAX_YEAR}")
    return datetime.combine(day, _clock(value, match.group("clock"), zone))


def _clock(value: str, clock: str, zone: str) -> time:
    hour, _, minute = clock.partition(":")
    if not (0 <= int(hour) <= 23 and 0 <= int(minute) <= 59):
        raise invalid(value, zone)
    return time(int(hour), int(minute))
