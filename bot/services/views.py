"""Plain data objects that services return to the Telegram and web layers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PointView:
    id: int
    name: str
    description: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class EventView:
    id: int
    title: str
    venue_name: str
    venue_address: str
    latitude: float | None
    longitude: float | None
    time_zone: str
    starts_at: datetime | None
    ends_at: datetime | None
    map_file_id: str | None
    map_caption: str
    map_file_unique_id: str | None = None


@dataclass(frozen=True)
class AttendeeView:
    id: int
    event_id: int
    telegram_user_id: int | None
    chat_id: int | None
    display_name: str
    language: str
    arrival_source: str
    subscribed: bool
    unreachable: bool
    is_new: bool = False
