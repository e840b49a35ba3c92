"""Length limits on organiser text that Telegram messages or database columns cannot hold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.db.types import utcnow
from bot.errors import InputError
from bot.services import drops, events
from bot.services.events import EventFields


@pytest.fixture
async def event(db):
    return await events.create_event(db, EventFields(title="Limits night"))


async def test_overlong_venue_name_rejected(db, event):
    with pytest.raises(InputError, match="venue name of 201 characters: use 200 or fewer"):
        await events.update_event(db, EventFields(venue_name="v" * 201))


async def test_overlong_venue_address_rejected(db, event):
    with pytest.raises(InputError, match="venue address of 401 characters: use 400 or fewer"):
        await events.update_event(db, EventFields(venue_address="a" * 401))


async def test_longest_venue_is_stored(db, event):
    updated = await events.update_event(
        db, EventFields(venue_name="v" * 200, venue_address="a" * 400)
    )

    assert len(updated.venue_name) == 200
    assert len(updated.venue_address) == 400


async def test_overlong_drop_description_rejected(db, event):
    with pytest.raises(InputError, match="description of 1001 characters: use 1000 or fewer"):
        await drops.create_drop(
            db,
            title="Tote bag",
            description="d" * 1001,
            starts_at=utcnow() + timedelta(hours=1),
            stock=5,
        )


async def test_overlong_drop_description_edit_rejected(db, event):
    drop = await drops.create_drop(
        db, title="Tote bag", starts_at=utcnow() + timedelta(hours=1), stock=5
    )

    with pytest.raises(InputError, match="use 1000 or fewer"):
        await drops.edit_drop(db, drop.id, description="d" * 1001)


async def test_longest_drop_description_is_stored(db, event):
    drop = await drops.create_drop(
        db,
        title="Tote bag",
        description="d" * 1000,
        starts_at=utcnow() + timedelta(hours=1),
        stock=5,
    )

    assert len(drop.description) == 1000
