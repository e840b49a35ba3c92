"""Attendee-facing texts: catalogue messages filled with escaped user data (HTML parse mode)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.text_decorations import html_decoration

from bot.services.views import EventView, PointView


def quote(text: str) -> str:
    """Escape user-provided text for HTML parse mode, so it shows exactly as typed."""
    return html_decoration.quote(text)


def local_time(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "?"
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b, %H:%M")


def no_event() -> str:
    return _("Welcome to micropop! Nothing is on yet: the organisers have not set up an event.")


def link_not_recognised() -> str:
    return _("This link is not valid (it may be mistyped or expired). Here is tonight's event.")


def event_card(event: EventView, name: str, *, returning: bool) -> str:
    greeting = (_("Welcome back, {name}!") if returning else _("Welcome, {name}!")).format(
        name=quote(name)
    )
    lines = [greeting, "", f"<b>{quote(event.title)}</b>"]
    if event.venue_name or event.venue_address:
        place = ", ".join(part for part in (event.venue_name, event.venue_address) if part)
        lines.append(_("Where: {place}").format(place=quote(place)))
    if event.starts_at:
        when = local_time(event.starts_at, event.time_zone)
        if event.ends_at:
            when += " - " + local_time(event.ends_at, event.time_zone).split(", ")[-1]
        lines.append(_("When: {when}").format(when=when))
    lines += ["", _("You will get the night's announcements here. Send /stop to pause them.")]
    return "\n".join(lines)


def help_text() -> str:
    return _(
        "/start - the event card\n"
        "/map - the venue map and points of interest\n"
        "/drops - limited drops, countdowns and your claims\n"
        "/stop - pause announcements (send /start to resume)\n"
        "/forget - delete your data\n"
        "/help - this list"
    )


def unknown_command(name: str) -> str:
    return _("Unknown command /{name}. Send /help to see what the bot can do.").format(
        name=quote(name)
    )


def stopped() -> str:
    return _("Announcements paused. Send /start to get them again.")


def not_registered() -> str:
    return _("Send /start first to join tonight's event.")


def map_caption(event: EventView) -> str:
    return _("Map of {title}").format(title=quote(event.title))


def venue_details(event: EventView, points: list[PointView]) -> str:
    lines = [f"<b>{quote(event.venue_name or event.title)}</b>"]
    if event.venue_address:
        lines.append(quote(event.venue_address))
    if points:
        lines += ["", _("Points of interest:")]
        for point in points:
            entry = f"• <b>{quote(point.name)}</b>"
            if point.description:
                entry += f" - {quote(point.description)}"
            lines.append(entry)
    return "\n".join(lines)


def no_map() -> str:
    return _("The organisers have not shared a map yet.")


def notifications_on() -> str:
    return _("Announcements are on.")


def notifications_off() -> str:
    return _("Announcements are paused.")


def button_map() -> str:
    return _("Map")


def button_drops() -> str:
    return _("Drops")


def button_notifications(subscribed: bool) -> str:
    return _("Pause announcements") if subscribed else _("Resume announcements")


def points_of_interest(points: list[PointView]) -> str:
    lines = [_("Points of interest:")]
    for point in points:
        entry = f"• <b>{quote(point.name)}</b>"
        if point.description:
            entry += f" - {quote(point.description)}"
        lines.append(entry)
    return "\n".join(lines)
