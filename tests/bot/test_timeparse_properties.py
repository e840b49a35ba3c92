"""Properties of event spans and of splitting `WHEN TEXT` in the organiser time parser."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.errors import InputError
from bot.timeparse import parse_span, split_leading_when

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
nows = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2080, 12, 31), timezones=st.just(UTC)
)
clocks = st.builds("{:02d}:{:02d}".format, st.integers(0, 23), st.integers(0, 59))
tokens = st.from_regex(r"[+0-9:a-z]{1,8}", fullmatch=True)
rests = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(when=tokens, rest=rests)
def test_split_takes_first_token(when, rest):
    assert split_leading_when(f"{when} {rest}") == (when, rest.strip())


@given(day=st.dates(min_value=date(1000, 1, 1)), clock=clocks, rest=rests)
def test_split_keeps_date_with_time(day, clock, rest):
    when = f"{day:%Y-%m-%d} {clock}"

    assert split_leading_when(f"{when}  {rest}") == (when, rest.strip())


@settings(deadline=None)
@given(now=nows, start=clocks, hours=st.integers(1, 48), zone=st.sampled_from(ZONES))
def test_span_with_duration_lasts_exactly(now, start, hours, zone):
    begins, ends = span_still_on(f"{start} +{hours}h", zone, now)

    assert ends - begins == timedelta(hours=hours)


@settings(deadline=None)
@given(now=nows, start=clocks, end=clocks, zone=st.sampled_from(ZONES))
def test_span_end_clock_within_a_day_after_start(now, start, end, zone):
    begins, ends = span_still_on(f"{start} {end}", zone, now)

    assert begins < ends <= begins + timedelta(hours=25)
    assert ends.astimezone(ZoneInfo(zone)).strftime("%H:%M") == end or end_skipped(ends, zone)


def span_still_on(args: str, zone: str, now: datetime) -> tuple[datetime, datetime]:
    """Parse a span, discarding the example when it is rejected for ending by `now`."""
    try:
        return parse_span(args, zone, now)
    except InputError as error:
        assert "the event would be over already" in str(error)
        assume(False)
        raise


def end_skipped(moment: datetime, zone: str) -> bool:
    """True when the end clock time did not exist that day because of a DST change."""
    before = moment - timedelta(hours=1)
    return (
        before.astimezone(ZoneInfo(zone)).utcoffset()
        != moment.astimezone(ZoneInfo(zone)).utcoffset()
    )


@settings(deadline=None)
@given(text=st.text(max_size=40), zone=st.sampled_from(ZONES), now=nows)
def test_span_parses_or_raises_input_error(text, zone, now):
    try:
        begins, ends = parse_span(text, zone, now)
    except InputError:
        return
    assert begins < ends
    assert begins.tzinfo is UTC
    assert ends.tzinfo is UTC
