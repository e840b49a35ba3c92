"""Tests of the timeline's wording helpers."""

from __future__ import annotations

import pytest

from bot.rehearsal.timeline import plural


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 jobs"), (1, "1 job"), (2, "2 jobs"), (134, "134 jobs")]
)
def test_plural_agrees_with_count(count: int, expected: str) -> None:
    assert plural(count, "job", "jobs") == expected
