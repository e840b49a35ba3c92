"""Organiser texts about the venue hardware: daemons, beacons, the printer and print jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _

from bot.services.posters import PosterJob
from bot.services.prints import PrintJobView
from bot.services.venue_feed import VenueOverview
from bot.telegram.texts import quote


def _time(moment: object, zone: str) -> str:
    """Format a status timestamp, which venue rows stored before status checks may hold as
    an ISO string, a number of Unix seconds, or a value of neither form."""
    if moment is None:
        return _("never")
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return quote(moment)
    elif isinstance(moment, int | float) and not isinstance(moment, bool):
        try:
            moment = datetime.fromtimestamp(moment, UTC)
        except (OverflowError, OSError, ValueError):
            return quote(str(moment))
    if not isinstance(moment, datetime):
        return quote(str(moment))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M:%S")


def overview(venues: list[VenueOverview], jobs: list[PrintJobView], zone: str) -> str:
    if not venues:
        lines = [_("No venue daemon has been in touch yet. Start one with: micropop hardware")]
    else:
        lines = []
    for venue in venues:
        lines.append(
            _("<b>{name}</b>: last contact {when}, {behind} feed event(s) behind").format(
                name=quote(venue.name),
                when=_time(venue.last_contact_at, zone),
                behind=venue.behind,
            )
        )
        printer = venue.printer if isinstance(venue.printer, dict) else {}
        if printer:
            lines.append(
                _("Printer {uri}: {state}, {queued} queued, last printed {printed}").format(
                    uri=quote(str(printer.get("uri", ""))),
                    state=quote(str(printer.get("state"))),
                    queued=printer.get("queued", 0),
                    printed=_time(printer.get("last_printed_at"), zone),
                )
            )
        for beacon in venue.beacons:
            if not isinstance(beacon, dict):
                continue
            lines.append(
                _("Beacon {address} ({profile}): {state}").format(
                    address=quote(str(beacon.get("address", ""))),
                    profile=quote(str(beacon.get("profile", ""))),
                    state=quote(str(beacon.get("state", ""))),
                )
            )
        lines += [f"⚠️ {quote(fault)}" for fault in venue.faults]
    if jobs:
        lines += ["", _("Recent print jobs (reprint one with /reprint ID):")]
        for job in jobs:
            lines.append(f"#{job.id} {job.kind} {job.status} {quote(job.label)}")
    return "\n".join(lines)


def reprint_queued(original: int, copy: int) -> str:
    return _("Reprint of job #{original} queued as job #{copy}.").format(
        original=original, copy=copy
    )


def poster_queued(poster: PosterJob) -> str:
    starts = poster.starts_at.astimezone(ZoneInfo(poster.time_zone))
    return _(
        "Countdown poster for drop #{drop} {title} (opens {when}) queued as print job #{job}."
    ).format(
        drop=poster.drop_id,
        title=quote(poster.drop_title),
        when=starts.strftime("%Y-%m-%d %H:%M"),
        job=poster.print_job_id,
    )
