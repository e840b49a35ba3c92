"""Arrival through a deep link: resolve the link to an event and register the attendee."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot import links
from bot.db.engine import Database
from bot.db.group_commit import GroupCommit
from bot.db.models import Event
from bot.services import announcements, attendees, events
from bot.services.attendees import Arrival
from bot.services.views import AttendeeView, EventView

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Landing:
    """Where an arrival leads: the event, the attendee and the link that brought them."""

    event: EventView | None
    attendee: AttendeeView | None
    link: links.Link | None
    link_rejected: bool
    # Announcements queued for this attendee because they went out before they arrived.
    caught_up: int = 0


def parse_payload(payload: str | None, secret: str) -> tuple[links.Link | None, bool]:
    """Decode a start payload; return (link, rejected). An empty payload is no link at all."""
    if not payload:
        return None, False
    try:
        return links.decode(payload, secret), False
    except links.InvalidPayload as exc:
        logger.info("Start payload rejected: reason=%s", exc)
        return None, True


@dataclass(frozen=True)
class ArrivalRequest:
    """A /start to register: the decoded link, the user and whether the link was rejected."""

    link: links.Link | None
    arrival: Arrival
    link_rejected: bool = False


async def arrive(
    db: Database,
    link: links.Link | None,
    arrival: Arrival,
    *,
    link_rejected: bool = False,
) -> Landing:
    """Register an attendee for the event the link points at, or the active event."""
    async with db.transaction() as session:
        [landing] = await arrive_in(session, [ArrivalRequest(link, arrival, link_rejected)])
    _log_arrival(landing, arrival)
    return landing


async def arrive_in(session: AsyncSession, requests: Sequence[ArrivalRequest]) -> list[Landing]:
    """Register several arrivals in the caller's transaction; return a Landing for each.

    Each user may appear once. The event lookup, the upsert and the catch-up check each run
    once for all of them.
    """
    landings = [
        Landing(
            event=None,
            attendee=None,
            link=request.link,
            link_rejected=request.link_rejected,
        )
        for request in requests
    ]
    arriving = [
        (index, event_row)
        for index, event_row in enumerate(await _events_for(session, requests))
        if event_row is not None
    ]
    if not arriving:
        return landings
    registered = await attendees.register_many(
        session,
        [(event_row.id, requests[index].arrival) for index, event_row in arriving],
    )
    # Announcements that went out before they arrived (or while the bot was blocked).
    caught_up = await announcements.catch_up_many(session, [row for row, _ in registered])

    for (index, event_row), (row, is_new), count in zip(
        arriving, registered, caught_up, strict=True
    ):
        request = requests[index]
        landings[index] = Landing(
            event=events.to_view(event_row),
            attendee=attendees.to_view(row, is_new=is_new),
            link=request.link,
            link_rejected=request.link_rejected,
            caught_up=count,
        )
    return landings


def _log_arrival(landing: Landing, arrival: Arrival) -> None:
    if landing.event is None or landing.attendee is None:
        return
    logger.info(
        "Attendee arrived: attendee_id=%s event_id=%s source=%s new=%s",
        landing.attendee.id,
        landing.event.id,
        arrival.source,
        landing.attendee.is_new,
    )


async def _events_for(
    session: AsyncSession, requests: Sequence[ArrivalRequest]
) -> list[Event | None]:
    """Return the event each arrival lands on: the linked one if it exists, else the active."""
    linked: dict[int, Event | None] = {}
    active: Event | None = None
    active_loaded = False
    found = []
    for request in requests:
        event_row = None
        link = request.link
        if link is not None and link.kind is links.LinkKind.EVENT:
            if link.id not in linked:
                linked[link.id] = await session.get(Event, link.id)
            event_row = linked[link.id]
        if event_row is None:
            if not active_loaded:
                active = await events.active_event_row(session)
                active_loaded = True
            event_row = active
        found.append(event_row)
    return found


class Arrivals:
    """Group commit for /start: this process's arrivals, registered many to a transaction.

    A crowd at the door so costs one transaction per batch instead of one per /start. Each
    caller returns once the transaction holding its registration has committed.
    """

    def __init__(self, db: Database) -> None:
        self._writes: GroupCommit[ArrivalRequest, Landing] = GroupCommit(
            db, arrive_in, key=lambda request: request.arrival.telegram_user_id
        )

    async def arrive(
        self, link: links.Link | None, arrival: Arrival, *, link_rejected: bool = False
    ) -> Landing:
        """Register an arrival as `arrive` does, sharing the transaction with others."""
        landing = await self._writes.submit(ArrivalRequest(link, arrival, link_rejected))
        _log_arrival(landing, arrival)
        return landing


def arrival_source(link: links.Link | None) -> str:
    if link is None:
        return "direct"
    if link.source:
        return link.source
    return {
        links.LinkKind.EVENT: "link",
        links.LinkKind.MAP: "map-link",
        links.LinkKind.DROP: "drop-link",
        links.LinkKind.RECEIPT: "receipt",
    }[link.kind]
