"""Organiser console texts: catalogue messages filled with escaped data (HTML parse mode)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.services.announcements import AnnouncementView
from bot.services.drops import DropView
from bot.services.exports import ExportFile
from bot.services.organisers import AuditView
from bot.services.statistics import NightStats
from bot.services.views import EventView, PointView
from bot.telegram.texts import quote

PREVIEW_LENGTH = 80


def when(moment: datetime | None, zone: str) -> str:
    """Format a moment in the event's time zone the way organisers type it back."""
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def preview(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > PREVIEW_LENGTH:
        flat = flat[: PREVIEW_LENGTH - 1] + "…"
    return quote(flat)


def rejected_outside() -> str:
    return _("Organiser commands work only in the organiser group.")


def error(message: str) -> str:
    return "⚠️ " + quote(message)


def unknown_command(name: str, suggestion: str | None) -> str:
    if suggestion is None:
        text = _("Unknown command /{name}. /help lists the organiser commands.")
    else:
        text = _(
            "Unknown command /{name}. Did you mean /{suggestion}? "
            "/help lists the organiser commands."
        )
    return text.format(name=quote(name), suggestion=suggestion)


def press_rejected() -> str:
    return _("Only members of the organiser group can do this.")


def second_organiser_needed() -> str:
    return _("Another organiser has to confirm this broadcast.")


def help_text() -> str:
    return _(
        "<b>Organiser commands</b>\n"
        "/event TITLE - create or rename the event (/newevent TITLE starts another)\n"
        "/venue NAME | ADDRESS - the venue\n"
        "/location LAT LON - the venue's position (or share a location)\n"
        "/tz ZONE - the time zone, e.g. Europe/Berlin\n"
        "/when START END - the event's times\n"
        "/poi NAME | DESCRIPTION, /pois, /unpoi ID - points of interest\n"
        "/map - send a photo with this caption to set the map; /map TEXT sets its text\n"
        "/drop TITLE | START | STOCK | LIMIT [| DESCRIPTION] - a limited drop\n"
        "/editdrop ID FIELD VALUE, /listdrops, /canceldrop ID - manage drops\n"
        "/announce TEXT - send now; /schedule WHEN TEXT - send later\n"
        "/queue, /cancel ID - scheduled and sending announcements\n"
        "/stats, /export, /audit - figures, CSV export, audit log\n"
        "/hardware, /reprint ID - venue daemons, beacons, printer; print a job again\n"
        "/poster DROP_ID - print a countdown poster with a QR code to the drop\n"
        "Times: HH:MM, +15m, +1h30m or YYYY-MM-DD HH:MM in the event's time zone."
    )


def event_summary(event: EventView, headline: str) -> str:
    lines = [headline, "", f"<b>{quote(event.title)}</b> (#{event.id})"]
    place = ", ".join(part for part in (event.venue_name, event.venue_address) if part)
    lines.append(_("Venue: {place}").format(place=quote(place) if place else "-"))
    if event.latitude is not None and event.longitude is not None:
        position = f"{event.latitude:.6f}, {event.longitude:.6f}"
    else:
        position = "-"
    lines.append(_("Location: {position}").format(position=position))
    lines.append(_("Time zone: {zone}").format(zone=event.time_zone))
    lines.append(
        _("Times: {start} to {end}").format(
            start=when(event.starts_at, event.time_zone), end=when(event.ends_at, event.time_zone)
        )
    )
    lines.append(_("Map: set") if event.map_file_id else _("Map: not set"))
    return "\n".join(lines)


def event_created() -> str:
    return _("Event created. Attendees now land on it.")


def event_ends_next_day(ends_at: datetime, zone: str) -> str:
    return _("The event ends the next day, at {end}.").format(end=when(ends_at, zone))


def event_updated() -> str:
    return _("Event updated.")


def event_current() -> str:
    return _("Current event.")


def point_added(point: PointView) -> str:
    return _("Point of interest #{id} added: {name}").format(id=point.id, name=quote(point.name))


def point_removed(point: PointView) -> str:
    return _("Point of interest #{id} removed: {name}").format(id=point.id, name=quote(point.name))


def points_list(points: list[PointView]) -> str:
    if not points:
        return _("No points of interest yet. Add one with /poi NAME | DESCRIPTION.")
    lines = [_("<b>Points of interest</b>")]
    for point in points:
        entry = f"#{point.id} <b>{quote(point.name)}</b>"
        if point.description:
            entry += f" - {quote(point.description)}"
        lines.append(entry)
    return "\n".join(lines)


def map_set() -> str:
    return _("Map saved. Attendees get it with /map.")


def map_unchanged() -> str:
    return _("This picture is already the map.")


def map_caption_set() -> str:
    return _("Map text saved. Attendees see it with the picture.")


def drop_line(drop: DropView, zone: str) -> str:
    line = _("#{id} <b>{title}</b> at {start}: {remaining} of {stock} left, {limit} per person")
    text = line.format(
        id=drop.id,
        title=quote(drop.title),
        start=when(drop.starts_at, zone),
        remaining=drop.remaining,
        stock=drop.stock,
        limit=drop.per_person_limit,
    )
    if drop.cancelled:
        text += " " + _("(cancelled)")
    return text


def drop_created(drop: DropView, zone: str, *, poster: bool = False) -> str:
    text = _("Drop created.") + "\n" + drop_line(drop, zone)
    if poster:
        text += "\n" + _("A countdown poster is queued for the venue printer (see /hardware).")
    return text


def drop_updated(drop: DropView, zone: str) -> str:
    return _("Drop updated.") + "\n" + drop_line(drop, zone)


def drop_cancelled(drop: DropView, zone: str) -> str:
    return _("Drop cancelled; claims already made stay.") + "\n" + drop_line(drop, zone)


def drop_already_cancelled(drop: DropView, zone: str) -> str:
    notice = _("Drop #{id} was already cancelled, so nothing changed.").format(id=drop.id)
    return notice + "\n" + drop_line(drop, zone)


def drops_list(drops: list[DropView], zone: str) -> str:
    if not drops:
        return _("No drops yet. Create one with /drop TITLE | START | STOCK | LIMIT.")
    return "\n".join([_("<b>Drops</b>"), *(drop_line(drop, zone) for drop in drops)])


def announcement_queued(view: AnnouncementView, zone: str, *, now: bool) -> str:
    count = view.recipients
    if now:
        text = ngettext(
            "Announcement #{id} is being sent to {count} attendee.",
            "Announcement #{id} is being sent to {count} attendees.",
            count,
        )
    else:
        text = ngettext(
            "Announcement #{id} scheduled for {when}, now {count} attendee.",
            "Announcement #{id} scheduled for {when}, now {count} attendees.",
            count,
        )
    return text.format(id=view.id, count=view.recipients, when=when(view.scheduled_for, zone))


def confirmation_needed(view: AnnouncementView, zone: str, *, second_organiser: bool) -> str:
    text = _(
        "Announcement #{id} goes to {count} attendees at {when}:\n{preview}\n\n"
        "Press Confirm to send it."
    ).format(
        id=view.id,
        count=view.recipients,
        when=when(view.scheduled_for, zone),
        preview=preview(view.text),
    )
    if second_organiser:
        text += " " + _("Another organiser has to confirm it.")
    return text


def confirmed(view: AnnouncementView, zone: str, name: str) -> str:
    return _("Announcement #{id} confirmed by {name}, sending at {when}.").format(
        id=view.id, name=quote(name), when=when(view.scheduled_for, zone)
    )


def discarded(view: AnnouncementView, name: str) -> str:
    return _("Announcement #{id} discarded by {name}.").format(id=view.id, name=quote(name))


def announcement_cancelled(view: AnnouncementView) -> str:
    return _("Announcement #{id} cancelled; deliveries not yet sent expire.").format(id=view.id)


def button_confirm() -> str:
    return _("Confirm")


def button_discard() -> str:
    return _("Discard")


def queue_list(views: list[AnnouncementView], zone: str) -> str:
    if not views:
        return _("Nothing is scheduled or being sent.")
    lines = [_("<b>Queue</b>")]
    for view in views:
        counts = ", ".join(f"{state} {count}" for state, count in sorted(view.counts.items()))
        lines.append(
            f"#{view.id} {view.status} {when(view.scheduled_for, zone)} ({view.kind})"
            + (f" - {counts}" if counts else "")
            + f"\n{preview(view.text)}"
        )
    return "\n".join(lines)


def stats(figures: NightStats) -> str:
    lines = [
        _("<b>{title}</b>: figures").format(title=quote(figures.event_title)),
        _("Attendees: {total}, subscribed {subscribed}, unreachable {unreachable}").format(
            total=figures.attendees,
            subscribed=figures.subscribed,
            unreachable=figures.unreachable,
        ),
    ]
    if figures.forgotten:
        lines.append(_("Forgotten on request: {count}").format(count=figures.forgotten))
    for drop in figures.drops:
        lines.append(
            _("#{id} {title}: {held} held, {collected} collected, {released} released").format(
                id=drop.drop_id,
                title=quote(drop.title),
                held=drop.held,
                collected=drop.collected,
                released=drop.released,
            )
            + f" ({drop.remaining}/{drop.stock})"
        )
    deliveries = ", ".join(
        f"{state} {count}" for state, count in sorted(figures.deliveries.items())
    )
    lines.append(_("Deliveries: {counts}").format(counts=deliveries or "-"))
    return "\n".join(lines)


def export_caption(export: ExportFile) -> str:
    counts = ", ".join(f"{record} {count}" for record, count in export.rows.items())
    return _("Export for reconciliation: {counts}").format(counts=counts or "-")


def audit_list(entries: list[AuditView], zone: str) -> str:
    if not entries:
        return _("The audit log is empty.")
    lines = [_("<b>Audit log</b>, newest first")]
    for entry in entries:
        lines.append(
            f"{when(entry.at, zone)} {quote(entry.actor_name)}: /{quote(entry.action)} "
            f"{entry.result} - {preview(entry.detail)}"
        )
    return "\n".join(lines)


def migrated() -> str:
    return _("This group is now a supergroup. Organiser messages follow it here.")
