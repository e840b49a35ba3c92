"""The night's figures for /stats."""

from __future__ import annotations

import pytest

from bot.errors import NotFoundError
from bot.services import statistics
from tests.bot.services import night_fixtures

night = night_fixtures.night


async def test_stats_count_attendees(db, night):
    stats = await statistics.night_stats(db)

    assert stats.attendees == 3
    assert stats.subscribed == 1
    assert stats.unreachable == 1
    assert stats.forgotten == 1


async def test_stats_count_claims_per_drop(db, night):
    (drop,) = (await statistics.night_stats(db)).drops

    assert (drop.title, drop.held, drop.collected) == ("Tote bag", 2, 1)


async def test_stats_count_deliveries_per_state(db, night):
    stats = await statistics.night_stats(db)

    assert stats.deliveries == {"sent": 1, "unreachable": 1}


async def test_stats_without_event_not_found(db):
    with pytest.raises(NotFoundError, match="/event TITLE"):
        await statistics.night_stats(db)
