"""The organiser time parser: forms, DST edges and errors, with property tests."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import InputError
from bot.timeparse import (
    MAX_AHEAD,
    instants,
    parse_local,
    parse_span,
    parse_when,
    split_leading_when,
)

BERLIN = "Europe/Berlin"
# Zones with DST gaps of one hour, half an hour (Lord Howe), none (Kolkata) and a skipped day.
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Apia",
    "UTC",
]
NOW = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)  # 18:00 in Berlin


def local(moment: datetime, zone: str = BERLIN) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def test_clock_later_today():
    result = parse_when("19:30", BERLIN, NOW)

    assert result == datetime(2026, 12, 4, 18, 30, tzinfo=UTC)


def test_clock_earlier_means_tomorrow():
    result = parse_when("17:59", BERLIN, NOW)

    assert local(result).date().isoformat() == "2026-12-05"


def test_clock_now_means_tomorrow():
    result = parse_when("18:00", BERLIN, NOW)

    assert result == NOW + timedelta(days=1)


def test_clock_returns_utc():
    assert parse_when("19:30", BERLIN, NOW).tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+15m", timedelta(minutes=15)),
        ("+2h", timedelta(hours=2)),
        ("+1h30m", timedelta(hours=1.5)),
    ],
)
def test_offset_forms(text, expected):
    assert parse_when(text, BERLIN, NOW) == NOW + expected


def test_date_time_in_event_zone():
    result = parse_when("2026-12-05 09:15", BERLIN, NOW)

    assert result == datetime(2026, 12, 5, 8, 15, tzinfo=UTC)


def test_skipped_time_moves_forward():
    before_spring_change = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)

    result = parse_when("02:30", BERLIN, before_spring_change)

    assert local(result).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_repeated_time_takes_first():
    before_autumn_change = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)

    result = parse_when("02:30", BERLIN, before_autumn_change)

    assert result == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_repeated_time_between_passes_takes_second():
    # 02:45 summer time: the first 02:30 has passed, the second one is 45 minutes away.
    between = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)

    result = parse_when("02:30", BERLIN, between)

    assert result == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_repeated_date_time_takes_first():
    result = parse_when("2026-10-25 02:30", BERLIN, NOW - timedelta(days=60))

    assert result == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("25:70", 'Invalid time "25:70": use HH:MM, +15m or YYYY-MM-DD HH:MM'),
        ("yesterday", 'Invalid time "yesterday": use HH:MM, +15m or YYYY-MM-DD HH:MM'),
        ("+0m", 'Invalid time "+0m": an offset must be at least 1 minute'),
        ("+0h0m", 'Invalid time "+0h0m": an offset must be at least 1 minute'),
        ("+", 'Invalid time "+": an offset needs hours or minutes'),
        ("2026-12-03 10:00", 'Invalid time "2026-12-03 10:00": it is in the past'),
        ("2026-02-30 10:00", 'Invalid time "2026-02-30 10:00": use HH:MM'),
        ("+9000h", 'Invalid time "+9000h": it is more than 366 days ahead'),
        ("0001-01-01 00:00", "the year must be from 1970 to 9998"),
        ("24:00", 'Invalid time "24:00"'),
    ],
)
def test_rejected_values(text, fragment):
    with pytest.raises(InputError) as caught:
        parse_when(text, BERLIN, NOW)

    assert fragment in str(caught.value)


def test_error_names_zone_and_forms():
    with pytest.raises(InputError) as caught:
        parse_when("25:70", BERLIN, NOW)

    assert str(caught.value) == (
        'Invalid time "25:70": use HH:MM, +15m or YYYY-MM-DD HH:MM in the event\'s time zone '
        "(Europe/Berlin)."
    )


def test_split_leading_date_time():
    assert split_leading_when("2026-12-05 19:00 Doors open\nnow") == (
        "2026-12-05 19:00",
        "Doors open\nnow",
    )


def test_split_leading_token():
    assert split_leading_when("+15m  Last call") == ("+15m", "Last call")


def test_split_leading_empty():
    assert split_leading_when("") == ("", "")


def test_span_end_clock_after_midnight():
    start, end = parse_span("2026-12-04 19:00 01:00", BERLIN, NOW)

    assert (start, end) == (
        datetime(2026, 12, 4, 18, 0, tzinfo=UTC),
        datetime(2026, 12, 5, 0, 0, tzinfo=UTC),
    )


def test_span_duration():
    start, end = parse_span("19:00 +5h", BERLIN, NOW)

    assert end - start == timedelta(hours=5)


def test_span_start_today_may_be_past():
    start, _ = parse_span("12:00 23:00", BERLIN, NOW)

    assert start == datetime(2026, 12, 4, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("span", ["2020-01-01 19:00 23:00", "12:00 17:30", "12:00 +5h"])
def test_span_over_already_rejected(span):
    with pytest.raises(InputError) as caught:
        parse_span(span, BERLIN, NOW)

    message = str(caught.value)
    assert message.startswith(f'Invalid times "{span}": the event would be over already')
    assert "(now 2026-12-04 18:00)" in message
    assert message.endswith("in the event's time zone (Europe/Berlin).")


def test_span_end_before_start_rejected():
    with pytest.raises(InputError) as caught:
        parse_span("2026-12-04 19:00 2026-12-04 18:00", BERLIN, NOW)

    assert 'Invalid end "2026-12-04 18:00"' in str(caught.value)


def test_span_missing_end_rejected():
    with pytest.raises(InputError) as caught:
        parse_span("19:00", BERLIN, NOW)

    assert 'Invalid times "19:00": use START END' in str(caught.value)


def test_local_invalid_names_local_forms():
    with pytest.raises(InputError) as caught:
        parse_local("25:70", BERLIN, today=NOW.date())

    assert str(caught.value) == (
        'Invalid time "25:70": use YYYY-MM-DD HH:MM, or HH:MM for today, '
        "in the event's time zone (Europe/Berlin)."
    )


def test_local_today_clock():
    moment = parse_local("09:00", BERLIN, today=NOW.date())

    assert moment == datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


nows = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)


@cache
def transitions(zone_name: str, year: int) -> tuple[datetime, ...]:
    """List the instants of a year at which the zone's UTC offset changes, to the half hour."""
    zone = ZoneInfo(zone_name)
    moment = datetime(year, 1, 1, tzinfo=UTC)
    found = []
    while moment.year == year:
        step = moment + timedelta(minutes=30)
        if moment.astimezone(zone).utcoffset() != step.astimezone(zone).utcoffset():
            found.append(step)
        moment = step
    return tuple(found)


@st.composite
def near_transitions(draw: st.DrawFn) -> tuple[str, datetime, time]:
    """Draw a zone, an instant within 30 hours of an offset change and a clock time near it."""
    zone_name = draw(
        st.sampled_from([name for name in ZONES if name not in {"UTC", "Asia/Kolkata"}])
    )
    year = 2011 if zone_name == "Pacific/Apia" else draw(st.integers(2015, 2035))
    change = draw(st.sampled_from(transitions(zone_name, year)))
    shift = draw(st.integers(-30 * 60, 30 * 60))
    now = change + timedelta(minutes=shift, seconds=draw(st.integers(0, 59)))
    # The wall time just before the change, give or take 90 minutes: gaps and repeats.
    wall = (change - timedelta(minutes=1)).astimezone(ZoneInfo(zone_name))
    near = wall + timedelta(minutes=1 + draw(st.integers(-90, 90)))
    return zone_name, now, time(near.hour, near.minute)


clocks = st.times().map(lambda value: time(value.hour, value.minute))


def shows(moment: datetime, zone: ZoneInfo, clock: time) -> bool:
    wall = moment.astimezone(zone)
    return (wall.hour, wall.minute) == (clock.hour, clock.minute)


def skipped(day_clock: datetime, zone: ZoneInfo) -> bool:
    return not any(
        instant.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == day_clock
        for instant in instants(day_clock, zone)
    )


@settings(max_examples=150, deadline=None)
@given(now=nows, clock=clocks, zone_name=st.sampled_from(ZONES))
def test_clock_is_next_occurrence(now, clock, zone_name):
    zone = ZoneInfo(zone_name)

    result = parse_when(clock.strftime("%H:%M"), zone_name, now)

    assert result > now
    assert result - now <= timedelta(hours=49)
    # No whole minute between now and the result shows the requested time.
    moment = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment < result:
        assert not shows(moment, zone, clock), f"{moment} shows {clock} before {result}"
        moment += timedelta(minutes=1)
    if not shows(result, zone, clock):
        # A skipped time moves forward by the gap: the offset change just before the result.
        wall = result.astimezone(zone)
        gap = wall.utcoffset() - (result - timedelta(hours=3)).astimezone(zone).utcoffset()
        day_clock = datetime.combine(wall.date(), clock)
        candidates = [day_clock, day_clock - timedelta(days=1)]
        assert any(skipped(candidate, zone) for candidate in candidates)
        assert wall.replace(tzinfo=None) in [candidate + gap for candidate in candidates]


@settings(max_examples=300, deadline=None)
@given(case=near_transitions())
def test_clock_next_occurrence_near_dst_change(case):
    zone_name, now, clock = case

    test_clock_is_next_occurrence.hypothesis.inner_test(now, clock, zone_name)


@settings(max_examples=200, deadline=None)
@given(now=nows, hours=st.integers(0, 48), minutes=st.integers(0, 600))
def test_offset_adds_exactly(now, hours, minutes):
    text = f"+{hours}h{minutes}m"
    if hours == 0 and minutes == 0:
        with pytest.raises(InputError):
            parse_when(text, BERLIN, now)
        return

    assert parse_when(text, BERLIN, now) == now + timedelta(hours=hours, minutes=minutes)


@settings(max_examples=200, deadline=None)
@given(now=nows, ahead=st.integers(1, 300 * 24 * 60), zone_name=st.sampled_from(ZONES))
def test_date_time_round_trips(now, ahead, zone_name):
    zone = ZoneInfo(zone_name)
    target = (now + timedelta(minutes=ahead)).astimezone(zone)
    text = target.strftime("%Y-%m-%d %H:%M")

    try:
        result = parse_when(text, zone_name, now)
    except InputError as error:
        # Only a time repeated by a DST change can map to an earlier, past instant.
        assert "in the past" in str(error)
        return

    assert result.astimezone(zone).strftime("%Y-%m-%d %H:%M") == text
    assert result > now


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30), zone_name=st.sampled_from(ZONES), now=nows)
def test_any_text_parses_or_raises_input_error(text, zone_name, now):
    try:
        result = parse_when(text, zone_name, now)
    except InputError as error:
        assert zone_name in str(error)
        return

    assert now < result <= now + MAX_AHEAD
