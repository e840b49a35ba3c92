"""Arrival through a deep link: resolve the link to an event and register the attendee."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot import links
from bot.db.engine import Database
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


async def arrive(
    db: Database, link: links.Link | None, arrival: Arrival, *, link_rejected: bool = False
) -> Landing:
    """Register an attendee for the event the link points at, or the active event."""
    # One transaction for the event lookup and the registration: a transaction costs a few
    # round trips to the database, and /start is the busiest moment of a night.
    async with db.transaction() as session:
        event_row = None
        if link is not None and link.kind is links.LinkKind.EVENT:
            event_row = await session.get(Event, link.id)
        if event_row is None:
            event_row = await events.active_event_row(session)
        if event_row is None:
            return Landing(event=None, attendee=None, link=link, link_rejected=link_rejected)
        event = events.to_view(event_row)
        row, is_new = await attendees.register_in(session, event.id, arrival)
        # Announcements that went out before they arrived (or while the bot was blocked).
        caught_up = await announcements.catch_up_in(session, row)
        attendee = attendees.to_view(row, is_new=is_new)
    logger.info(
        "Attendee arrived: attendee_id=%s event_id=%s source=%s new=%s",
        attendee.id,
        event.id,
        arrival.source,
        attendee.is_new,
    )
    return Landing(
        event=event,
        attendee=attendee,
        link=link,
        link_rejected=link_rejected,
        caught_up=caught_up,
    )


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
