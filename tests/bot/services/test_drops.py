"""Drop creation, edits, cancellation and reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import Announcement, AnnouncementStatus
from bot.db.types import utcnow
from bot.errors import InputError
from bot.services import drops
from tests.bot.services.drop_fixtures import RecordingScheduler, make_event


async def create(db, **overrides):
    values = {"title": "Tote bag", "starts_at": utcnow() + timedelta(hours=1), "stock": 50}
    values.update(overrides)
    return await drops.create_drop(db, **values)


async def reminders(db, drop_id):
    async with db.transaction() as session:
        rows = await session.scalars(
            select(Announcement)
            .where(Announcement.drop_id == drop_id)
            .order_by(Announcement.scheduled_for)
        )
        return list(rows)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("stock", -1, 'stock "-1"'),
        ("stock", "ten", 'stock "ten"'),
        ("stock", 0, 'stock "0"'),
        ("per_person_limit", 0, 'per-person limit "0"'),
        ("title", "  ", "Missing drop title"),
        ("hold_minutes", "soon", 'hold "soon"'),
    ],
)
async def test_create_rejects_invalid_value(db, field, value, named):
    await make_event(db)

    with pytest.raises(InputError) as raised:
        await create(db, **{field: value})

    assert named in str(raised.value)


async def test_create_rejects_start_in_past(db):
    await make_event(db)

    with pytest.raises(InputError) as raised:
        await create(db, starts_at=utcnow() - timedelta(minutes=1))

    assert "in the past" in str(raised.value)


async def test_create_accepts_stock_as_text(db):
    await make_event(db)

    drop = await create(db, stock=" 12 ")

    assert (drop.stock, drop.remaining) == (12, 12)


async def test_create_schedules_reminders_and_live_now(db):
    await make_event(db)
    scheduler = RecordingScheduler()
    starts_at = utcnow() + timedelta(hours=1)

    drop = await create(db, starts_at=starts_at, scheduler=scheduler)

    rows = await reminders(db, drop.id)
    offsets = [round((starts_at - row.scheduled_for).total_seconds() / 60) for row in rows]
    assert offsets == [30, 10, 1, 0]
    assert all(row.kind == "reminder" for row in rows)
    assert rows[-1].relevant_until == starts_at + timedelta(minutes=5)
    assert rows[0].relevant_until == starts_at
    assert sorted(scheduler.scheduled) == sorted(row.id for row in rows)


async def test_create_skips_past_offsets(db):
    await make_event(db)
    scheduler = RecordingScheduler()
    starts_at = utcnow() + timedelta(minutes=5)

    drop = await create(db, starts_at=starts_at, scheduler=scheduler)

    assert len(await reminders(db, drop.id)) == 2  # T-1 and live now


async def test_reminder_keeps_title_as_plain_text(db):
    await make_event(db)

    drop = await create(db, title="<b>Mugs & more</b>", scheduler=RecordingScheduler())

    # Deliveries, beacons and slips show announcements as plain text, so nothing is escaped.
    assert "⏰ <b>Mugs & more</b> drops in" in (await reminders(db, drop.id))[0].text


async def test_edit_start_reschedules_reminders(db):
    await make_event(db)
    scheduler = RecordingScheduler()
    drop = await create(db, scheduler=scheduler)
    first = {row.id for row in await reminders(db, drop.id)}

    await drops.edit_drop(
        db, drop.id, starts_at=drop.starts_at + timedelta(hours=1), scheduler=scheduler
    )

    rows = await reminders(db, drop.id)
    cancelled = {row.id for row in rows if row.status == AnnouncementStatus.CANCELLED}
    assert cancelled == first
    assert len(rows) == 8
    assert set(scheduler.unscheduled) == first


async def test_edit_stock_moves_remaining(db):
    await make_event(db)
    drop = await create(db, stock=10)

    edited = await drops.edit_drop(db, drop.id, stock=15)

    assert (edited.stock, edited.remaining) == (15, 15)


async def test_edit_rejects_unknown_field(db):
    await make_event(db)
    drop = await create(db)

    with pytest.raises(InputError) as raised:
        await drops.edit_drop(db, drop.id, colour="red")

    assert "colour" in str(raised.value)


async def test_cancel_cancels_reminders(db):
    await make_event(db)
    scheduler = RecordingScheduler()
    drop = await create(db, scheduler=scheduler)

    cancelled = await drops.cancel_drop(db, drop.id, scheduler=scheduler)

    assert cancelled.cancelled
    assert scheduler.scheduled == {}
    assert {row.status for row in await reminders(db, drop.id)} == {AnnouncementStatus.CANCELLED}


async def test_list_drops_by_start(db):
    event_id = await make_event(db)
    later = await create(db, title="Later", starts_at=utcnow() + timedelta(hours=2))
    sooner = await create(db, title="Sooner", starts_at=utcnow() + timedelta(hours=1))

    listed = await drops.list_drops(db, event_id)

    assert [drop.id for drop in listed] == [sooner.id, later.id]
