"""Events and their points of interest."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Event, PointOfInterest
from bot.errors import InputError, NotFoundError
from bot.services.views import EventView, PointView

MAX_TITLE = 200
# Lengths of the venue columns, which PostgreSQL enforces.
MAX_VENUE_NAME = 200
MAX_VENUE_ADDRESS = 400
# The map caption is sent as a photo caption and follow-up messages, so keep it to one message.
MAX_MAP_CAPTION = 4000


@dataclass
class EventFields:
    """Fields an organiser may set; None leaves a field as it is."""

    title: str | None = None
    venue_name: str | None = None
    venue_address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    time_zone: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


def to_view(event: Event) -> EventView:
    return EventView(
        id=event.id,
        title=event.title,
        venue_name=event.venue_name,
        venue_address=event.venue_address,
        latitude=event.latitude,
        longitude=event.longitude,
        time_zone=event.time_zone,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        map_file_id=event.map_file_id,
        map_caption=event.map_caption,
        map_file_unique_id=event.map_file_unique_id,
    )


async def active_event_row(session: AsyncSession) -> Event | None:
    result = await session.execute(_active_event_query())
    return result.scalar_one_or_none()


@functools.cache
def _active_event_query() -> Select[tuple[Event]]:
    # Built once, because every /start runs it.
    return select(Event).where(Event.active.is_(True)).order_by(Event.id.desc()).limit(1)


async def active_event(db: Database) -> EventView | None:
    """Return the event attendees currently land on, the newest active one."""
    async with db.transaction(readonly=True) as session:
        event = await active_event_row(session)
        return to_view(event) if event else None


async def get_event(db: Database, event_id: int) -> EventView | None:
    async with db.transaction(readonly=True) as session:
        event = await session.get(Event, event_id)
        return to_view(event) if event else None


async def require_active_event(session: AsyncSession) -> Event:
    event = await active_event_row(session)
    if event is None:
        raise NotFoundError("No event is set up yet: create one with /event TITLE")
    return event


async def create_event(db: Database, values: EventFields) -> EventView:
    """Create an event and make it the active one."""
    if not values.title:
        raise InputError("Missing event title: use /event TITLE, e.g. /event Spring drop")
    _validate(values)
    async with db.transaction() as session:
        event = Event(title=values.title, time_zone=values.time_zone or "UTC")
        _apply(event, values)
        session.add(event)
        await session.flush()
        return to_view(event)


async def update_event(db: Database, values: EventFields) -> EventView:
    _validate(values)
    async with db.transaction() as session:
        event = await require_active_event(session)
        _apply(event, values)
        await session.flush()
        return to_view(event)


async def set_map(db: Database, file_id: str, file_unique_id: str, caption: str) -> EventView:
    async with db.transaction() as session:
        event = await require_active_event(session)
        event.map_file_id = file_id
        event.map_file_unique_id = file_unique_id
        event.map_caption = caption
        return to_view(event)


async def set_map_caption(db: Database, caption: str) -> EventView:
    """Change the text shown with the map, keeping the picture."""
    if len(caption) > MAX_MAP_CAPTION:
        raise InputError(
            f"Invalid map caption of {len(caption)} characters: use {MAX_MAP_CAPTION} or fewer"
        )
    async with db.transaction() as session:
        event = await require_active_event(session)
        event.map_caption = caption.strip()
        return to_view(event)


async def add_point(
    db: Database,
    name: str,
    description: str = "",
    lat: float | None = None,
    lon: float | None = None,
) -> PointView:
    if not name.strip():
        raise InputError("Missing point name: use /poi NAME | DESCRIPTION")
    async with db.transaction() as session:
        event = await require_active_event(session)
        count = len(await _points(session, event.id))
        point = PointOfInterest(
            event_id=event.id,
            name=name.strip()[:200],
            description=description.strip(),
            latitude=lat,
            longitude=lon,
            position=count,
        )
        session.add(point)
        await session.flush()
        return _point_view(point)


async def list_points(db: Database, event_id: int) -> list[PointView]:
    async with db.transaction(readonly=True) as session:
        return [_point_view(point) for point in await _points(session, event_id)]


async def remove_point(db: Database, point_id: int) -> PointView:
    async with db.transaction() as session:
        event = await require_active_event(session)
        point = await session.get(PointOfInterest, point_id)
        if point is None or point.event_id != event.id:
            raise NotFoundError(f"Point {point_id} not found: list the points with /pois")
        view = _point_view(point)
        await session.delete(point)
        return view


async def _points(session: AsyncSession, event_id: int) -> list[PointOfInterest]:
    result = await session.execute(
        select(PointOfInterest)
        .where(PointOfInterest.event_id == event_id)
        .order_by(PointOfInterest.position, PointOfInterest.id)
    )
    return list(result.scalars())


def _point_view(point: PointOfInterest) -> PointView:
    return PointView(
        id=point.id,
        name=point.name,
        description=point.description,
        latitude=point.latitude,
        longitude=point.longitude,
    )


def _validate(values: EventFields) -> None:
    if values.title is not None and not (0 < len(values.title.strip()) <= MAX_TITLE):
        raise InputError(f"Invalid title of {len(values.title)} characters: use 1-{MAX_TITLE}")
    for name, value, limit in (
        ("venue name", values.venue_name, MAX_VENUE_NAME),
        ("venue address", values.venue_address, MAX_VENUE_ADDRESS),
    ):
        if value is not None and len(value.strip()) > limit:
            raise InputError(
                f"Invalid {name} of {len(value.strip())} characters: use {limit} or fewer"
            )
    if values.time_zone is not None:
        try:
            ZoneInfo(values.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(
                f'Invalid time zone "{values.time_zone}": use an IANA name such as Europe/Berlin'
            ) from None
    if values.latitude is not None and not -90 <= values.latitude <= 90:
        raise InputError(f"Invalid latitude {values.latitude}: use -90 to 90")
    if values.longitude is not None and not -180 <= values.longitude <= 180:
        raise InputError(f"Invalid longitude {values.longitude}: use -180 to 180")
    if values.starts_at and values.ends_at and values.ends_at <= values.starts_at:
        raise InputError("Invalid times: the event must end after it starts")


def _apply(event: Event, values: EventFields) -> None:
    for field in fields(values):
        value = getattr(values, field.name)
        if value is not None:
            setattr(event, field.name, value.strip() if isinstance(value, str) else value)
