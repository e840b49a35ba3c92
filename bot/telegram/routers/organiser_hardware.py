"""Organiser console, venue hardware: /hardware status, /reprint and /poster print jobs."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import CommandObject
from aiogram.types import Message

from bot.services import posters, prints, venue_feed
from bot.telegram import hardware_texts
from bot.telegram.console import console_command, parse_id, reply, require_args, require_event
from bot.telegram.context import BotContext
from bot.telegram.organiser_access import Actor

REPRINT_USAGE = "/reprint ID, e.g. /reprint 12 (ids are listed by /hardware)"
POSTER_USAGE = "/poster DROP_ID, e.g. /poster 3 (drop ids are listed by /listdrops)"


def create_router() -> Router:
    router = Router(name="organiser-hardware")
    router.message.register(on_hardware, console_command("hardware"))
    router.message.register(on_reprint, console_command("reprint"))
    router.message.register(on_poster, console_command("poster"))
    return router


async def on_hardware(message: Message, ctx: BotContext, bot: Bot) -> None:
    event = await require_event(ctx)
    venues = await venue_feed.overview(ctx.db)
    jobs = await prints.recent(ctx.db)

    await reply(bot, ctx, hardware_texts.overview(venues, jobs, event.time_zone))


async def on_reprint(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot, actor: Actor
) -> None:
    job_id = parse_id(require_args(command, REPRINT_USAGE), "print job", "/hardware")

    copy = await venue_feed.request_reprint(ctx.db, job_id, actor.label)

    await reply(bot, ctx, hardware_texts.reprint_queued(job_id, copy))


async def on_poster(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot, actor: Actor
) -> None:
    drop_id = parse_id(require_args(command, POSTER_USAGE), "drop", "/listdrops")

    poster = await posters.request_poster(ctx.db, drop_id, actor.label)

    await reply(bot, ctx, hardware_texts.poster_queued(poster))
