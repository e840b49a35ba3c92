"""Countdown posters: print jobs that count down to a drop, with a QR code of its deep link."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot import links
from bot.db.engine import Database
from bot.db.models import Drop, DropStatus, Event, PrintJob
from bot.db.types import utcnow
from bot.errors import InputError, NotFoundError
from bot.services import venue_feed

logger = logging.getLogger(__name__)

# The venue daemon's layout for a poster (hardware.layouts.countdown_poster).
POSTER_LAYOUT = "countdown"


@dataclass(frozen=True)
class PosterJob:
    """A queued countdown poster: its print job and the drop it counts down to."""

    print_job_id: int
    drop_id: int
    drop_title: str
    starts_at: datetime
    time_zone: str


async def request_poster(db: Database, drop_id: int, requested_by: str) -> PosterJob:
    """Queue a countdown poster of a drop and publish it on the venue feed.

    Raises:
        NotFoundError: no drop has this id.
        InputError: the drop is cancelled or has already started.
    """
    async with db.transaction() as session:
        drop = await session.get(Drop, drop_id)
        if drop is None:
            raise NotFoundError(f"Drop {drop_id} not found: list the drop ids with /listdrops")
        event = await session.get(Event, drop.event_id)
        assert event is not None
        _check_printable(drop, event)
        return await queue_poster(session, drop, event, requested_by)


async def queue_poster(
    session: AsyncSession, drop: Drop, event: Event, requested_by: str
) -> PosterJob:
    """Add a poster's print job and its `poster` feed event in the caller's transaction.

    The job's payload contains everything the poster prints, so a /reprint of the job prints the
    same poster. Its QR code opens the drop's card in the bot.
    """
    # Drop links are not signed, so no secret is needed to encode one.
    start = links.encode(links.Link(links.LinkKind.DROP, drop.id, links.ArrivalSource.POSTER), "")
    poster = {
        "layout": POSTER_LAYOUT,
        "event_title": event.title,
        "time_zone": event.time_zone,
        "title": drop.title,
        "starts_at": drop.starts_at.isoformat(),
        "start": start,
        "drop_id": drop.id,
    }
    job = PrintJob(event_id=event.id, kind="poster", payload=poster, requested_by=requested_by)
    session.add(job)
    await session.flush()

    await venue_feed.publish(session, "poster", {**poster, "print_job_id": job.id})
    logger.info("Poster queued: print_job_id=%s drop_id=%s", job.id, drop.id)
    return PosterJob(job.id, drop.id, drop.title, drop.starts_at, event.time_zone)


def _check_printable(drop: Drop, event: Event) -> None:
    if drop.status == DropStatus.CANCELLED:
        raise InputError(
            f"Drop {drop.id} is cancelled: a poster counts down to a scheduled drop, "
            "see /listdrops"
        )
    if drop.starts_at <= utcnow():
        local_start = drop.starts_at.astimezone(ZoneInfo(event.time_zone))
        started_at = local_start.strftime("%Y-%m-%d %H:%M")
        raise InputError(
            f"Drop {drop.id} already started at {started_at} ({event.time_zone}): a poster "
            "counts down to a drop that has not started, so pick one from /listdrops"
        )
