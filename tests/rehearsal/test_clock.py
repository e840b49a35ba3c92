"""Tests of the night clock: compression by speed, segment floors and the way back."""

from __future__ import annotations

import pytest

from bot.rehearsal.clock import NightClock, Segment
from bot.rehearsal.script import CLOSE_AT, DROP_AT, tempo


def started(speed: float, segments: list[Segment] | None = None) -> NightClock:
    clock = NightClock(speed, segments or [])
    clock.start()
    return clock


def test_plain_speed_compresses_evenly() -> None:
    clock = started(240)
    assert clock.offset(240) == pytest.approx(60.0)
    assert clock.offset(120) == pytest.approx(30.0)


def test_floor_stretches_its_segment() -> None:
    clock = started(240, [Segment(0, 60, floor_s=30.0)])
    assert clock.span(0, 60) == pytest.approx(30.0)
    assert clock.span(60, 120) == pytest.approx(15.0)


def test_short_floor_keeps_speed() -> None:
    clock = started(240, [Segment(0, 60, floor_s=1.0)])
    assert clock.span(0, 60) == pytest.approx(15.0)


def test_quiet_segments_make_up_for_floors() -> None:
    segments = [Segment(0, 60, floor_s=30.0), Segment(60, 240, floor_s=10.0)]
    clock = started(240, segments)
    assert clock.span(0, 60) == pytest.approx(30.0)
    assert clock.span(60, 240) == pytest.approx(30.0)
    assert clock.offset(240) == pytest.approx(60.0)


def test_quiet_segments_keep_their_floors() -> None:
    segments = [Segment(0, 60, floor_s=50.0), Segment(60, 240, floor_s=20.0)]
    clock = started(240, segments)
    assert clock.span(0, 60) == pytest.approx(50.0)
    assert clock.span(60, 240) == pytest.approx(20.0)


@pytest.mark.parametrize("minute", [0.0, 12.5, 60.0, 119.0, 200.0, 300.0])
def test_minute_inverts_offset(minute: float) -> None:
    clock = started(240, tempo(150))
    assert clock.minute(clock.at(minute)) == pytest.approx(minute)


def test_after_adds_real_seconds() -> None:
    clock = started(240, tempo(150))
    later = clock.after(DROP_AT, 3.0)
    assert clock.span(DROP_AT, later) == pytest.approx(3.0)


def test_more_guests_take_longer() -> None:
    small = NightClock(240, tempo(20))
    large = NightClock(240, tempo(500))
    assert large.offset(CLOSE_AT) > small.offset(CLOSE_AT)


def test_real_time_at_speed_one() -> None:
    assert NightClock(1, tempo(150)).offset(CLOSE_AT) == pytest.approx(4 * 3600)


def test_label_counts_from_doors() -> None:
    clock = started(240)
    assert clock.label(0) == "19:00"
    assert clock.label(DROP_AT) == "21:00"
    assert clock.label(330) == "00:30"


def test_unstarted_clock_has_no_origin() -> None:
    with pytest.raises(RuntimeError, match="start"):
        NightClock(240).at(10)


@pytest.mark.parametrize("minute", [70.0, 90.0, 120.0, 195.0, 225.0])
def test_label_survives_wall_clock_round_trip(minute: float) -> None:
    # A scheduled time is stored as a UTC datetime in whole microseconds and read back a
    # little off. The label must still show the same minute, whatever the start time.
    clock = NightClock(240, tempo(150))
    clock.wall_offset = 1.8e9 + 0.123
    for index in range(50):
        clock.started_at = 100.0 + 37.3 * index
        back = clock.minute(clock.to_monotonic(clock.utc(minute)))
        assert clock.label(back) == clock.label(minute), f"started_at={clock.started_at}"
