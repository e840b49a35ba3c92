"""Organiser console, event set-up: the event, venue, location, times, points and the map."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import CommandObject
from aiogram.types import Message

from bot.db.types import utcnow
from bot.errors import InputError, NotFoundError
from bot.services import events
from bot.services.events import EventFields
from bot.telegram import organiser_texts as texts
from bot.telegram.console import (
    AuditNote,
    console_command,
    parse_id,
    reply,
    require_args,
    require_event,
    split_fields,
)
from bot.telegram.context import BotContext
from bot.telegram.organiser_chat import call_in_organiser_chat
from bot.telegram.venue_map import map_methods
from bot.timeparse import parse_span

logger = logging.getLogger(__name__)

COORDINATES_RE = re.compile(r"(-?\d{1,3}(?:\.\d+)?)\s*[,; ]\s*(-?\d{1,3}(?:\.\d+)?)")


def create_router() -> Router:
    router = Router(name="organiser-event")
    router.message.register(on_event, console_command("event"))
    router.message.register(on_new_event, console_command("newevent"))
    router.message.register(on_venue, console_command("venue"))
    router.message.register(on_location, console_command("location"))
    router.message.register(on_shared_venue, F.venue)
    router.message.register(on_shared_location, F.location)
    router.message.register(on_time_zone, console_command("tz"))
    router.message.register(on_when, console_command("when"))
    router.message.register(on_point, console_command("poi"))
    router.message.register(on_points, console_command("pois"))
    router.message.register(on_remove_point, console_command("unpoi"))
    router.message.register(on_map_photo, console_command("map"), F.photo)
    router.message.register(on_map, console_command("map"))
    return router


async def on_event(message: Message, command: CommandObject, ctx: BotContext, bot: Bot) -> None:
    title = (command.args or "").strip()
    current = await events.active_event(ctx.db)
    if not title:
        if current is None:
            raise NotFoundError("No event is set up yet: create one with /event TITLE")
        await reply(bot, ctx, texts.event_summary(current, texts.event_current()))
    elif current is None:
        await _create(bot, ctx, title)
    else:
        event = await events.update_event(ctx.db, EventFields(title=title))
        await reply(bot, ctx, texts.event_summary(event, texts.event_updated()))


async def on_new_event(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot
) -> None:
    await _create(bot, ctx, require_args(command, "/newevent TITLE, e.g. /newevent Summer drop"))


async def _create(bot: Bot, ctx: BotContext, title: str) -> None:
    event = await events.create_event(
        ctx.db, EventFields(title=title, time_zone=ctx.settings.time_zone)
    )
    logger.info("Event created: event_id=%s", event.id)
    await reply(bot, ctx, texts.event_summary(event, texts.event_created()))


async def on_venue(message: Message, command: CommandObject, ctx: BotContext, bot: Bot) -> None:
    usage = "/venue NAME | ADDRESS, e.g. /venue Hall 7 | Alexanderplatz 1, Berlin"
    fields = split_fields(require_args(command, usage), usage, 1, 2)
    if not fields[0]:
        raise InputError(f"Missing venue name: use {usage}")
    address = fields[1] if len(fields) == 2 else None
    await _update(bot, ctx, EventFields(venue_name=fields[0], venue_address=address))


async def on_location(message: Message, command: CommandObject, ctx: BotContext, bot: Bot) -> None:
    usage = "/location LAT LON, e.g. /location 52.5219 13.4132, or share a location"
    args = require_args(command, usage)
    match = COORDINATES_RE.fullmatch(args)
    if match is None:
        raise InputError(f'Invalid location "{args}": use {usage}')
    latitude, longitude = float(match.group(1)), float(match.group(2))
    await _update(bot, ctx, EventFields(latitude=latitude, longitude=longitude))


async def on_shared_venue(message: Message, ctx: BotContext, bot: Bot) -> None:
    venue = message.venue
    assert venue is not None
    values = EventFields(
        venue_name=venue.title,
        venue_address=venue.address,
        latitude=venue.location.latitude,
        longitude=venue.location.longitude,
    )
    await _update(bot, ctx, values)


async def on_shared_location(message: Message, ctx: BotContext, bot: Bot) -> None:
    location = message.location
    assert location is not None
    await _update(bot, ctx, EventFields(latitude=location.latitude, longitude=location.longitude))


async def on_time_zone(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot
) -> None:
    zone = require_args(command, "/tz ZONE, e.g. /tz Europe/Berlin")
    await _update(bot, ctx, EventFields(time_zone=zone))


async def on_when(message: Message, command: CommandObject, ctx: BotContext, bot: Bot) -> None:
    args = require_args(command, "/when START END, e.g. /when 2026-12-04 19:00 23:30")
    event = await require_event(ctx)
    starts_at, ends_at = parse_span(args, event.time_zone, utcnow())

    updated = await events.update_event(ctx.db, EventFields(starts_at=starts_at, ends_at=ends_at))

    text = texts.event_summary(updated, texts.event_updated())
    # An end such as 02:00 after a 19:00 start rolls over to the next day, which the organiser
    # should see stated rather than infer from the dates.
    tz = ZoneInfo(updated.time_zone)
    if ends_at.astimezone(tz).date() == starts_at.astimezone(tz).date() + timedelta(days=1):
        text = f"{text}\n{texts.event_ends_next_day(ends_at, updated.time_zone)}"
    await reply(bot, ctx, text)


async def _update(bot: Bot, ctx: BotContext, values: EventFields) -> None:
    event = await events.update_event(ctx.db, values)
    await reply(bot, ctx, texts.event_summary(event, texts.event_updated()))


async def on_point(message: Message, command: CommandObject, ctx: BotContext, bot: Bot) -> None:
    usage = "/poi NAME | DESCRIPTION, e.g. /poi Bar | Drinks until 23:00"
    fields = split_fields(require_args(command, usage), usage, 1, 2)
    point = await events.add_point(ctx.db, fields[0], fields[1] if len(fields) == 2 else "")
    await reply(bot, ctx, texts.point_added(point))


async def on_points(message: Message, ctx: BotContext, bot: Bot) -> None:
    event = await require_event(ctx)
    await reply(bot, ctx, texts.points_list(await events.list_points(ctx.db, event.id)))


async def on_remove_point(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot
) -> None:
    args = require_args(command, "/unpoi ID, e.g. /unpoi 3 (the ids are in /pois)")
    point = await events.remove_point(ctx.db, parse_id(args, "point", "/pois"))
    await reply(bot, ctx, texts.point_removed(point))


async def on_map_photo(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot, audit: AuditNote
) -> None:
    assert message.photo
    # The last size is the largest; its file_id lets the bot send the picture without a re-upload.
    photo = message.photo[-1]
    before = await require_event(ctx)
    await events.set_map(ctx.db, photo.file_id, photo.file_unique_id, (command.args or "").strip())
    audit.detail = f"{audit.detail}\nfile_unique_id={photo.file_unique_id}"
    unchanged = before.map_file_unique_id == photo.file_unique_id
    await reply(bot, ctx, texts.map_unchanged() if unchanged else texts.map_set())


async def on_map(message: Message, command: CommandObject, ctx: BotContext, bot: Bot) -> None:
    """Show the map as attendees see it, after changing its text when one is given."""
    caption = (command.args or "").strip()
    if caption:
        event = await events.set_map_caption(ctx.db, caption)
        await reply(bot, ctx, texts.map_caption_set())
    else:
        event = await require_event(ctx)
    points = await events.list_points(ctx.db, event.id)
    for build in map_methods(event, points):
        await call_in_organiser_chat(bot, ctx.db, ctx.settings, build)
