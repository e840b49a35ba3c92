"""Organiser console, drops: create, edit, list and cancel limited drops."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Router
from aiogram.filters import CommandObject
from aiogram.types import Message

from bot.db.types import utcnow
from bot.errors import InputError
from bot.services import drops
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
from bot.telegram.organiser_access import Actor
from bot.timeparse import parse_when

DROP_USAGE = (
    "/drop TITLE | START | STOCK | LIMIT [| DESCRIPTION], e.g. /drop Tote bag | 21:00 | 50 | 1"
)
EDIT_USAGE = "/editdrop ID FIELD VALUE, e.g. /editdrop 3 stock 80"
# The names organisers type for each editable field of a drop.
EDIT_FIELDS = {
    "title": "title",
    "description": "description",
    "start": "starts_at",
    "stock": "stock",
    "limit": "per_person_limit",
    "hold": "hold_minutes",
    "waitlist": "waitlist",
}
SWITCH_VALUES = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


def create_router() -> Router:
    router = Router(name="organiser-drops")
    router.message.register(on_drop, console_command("drop"))
    router.message.register(on_edit_drop, console_command("editdrop"))
    router.message.register(on_list_drops, console_command("listdrops"))
    router.message.register(on_cancel_drop, console_command("canceldrop"))
    return router


async def on_drop(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot, actor: Actor
) -> None:
    fields = split_fields(require_args(command, DROP_USAGE), DROP_USAGE, 4, 5)
    title, start, stock, limit = fields[:4]
    event = await require_event(ctx)

    drop = await drops.create_drop(
        ctx.db,
        title=title,
        description=fields[4] if len(fields) == 5 else "",
        starts_at=parse_when(start, event.time_zone, utcnow()),
        stock=stock,
        per_person_limit=limit,
        scheduler=ctx.scheduler,
        print_poster=ctx.settings.poster_on_drop,
        requested_by=actor.label,
    )

    await reply(
        bot, ctx, texts.drop_created(drop, event.time_zone, poster=ctx.settings.poster_on_drop)
    )


async def on_edit_drop(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot
) -> None:
    parts = require_args(command, EDIT_USAGE).split(maxsplit=2)
    if len(parts) < 3:
        raise InputError(f"Missing arguments: use {EDIT_USAGE}")
    drop_id = parse_id(parts[0], "drop", "/listdrops")
    name, value = parts[1].lower(), parts[2].strip()
    if name not in EDIT_FIELDS:
        raise InputError(f'Unknown drop field "{parts[1]}": use one of {", ".join(EDIT_FIELDS)}')
    event = await require_event(ctx)

    changes: dict[str, Any] = {EDIT_FIELDS[name]: value}
    if name == "start":
        changes["starts_at"] = parse_when(value, event.time_zone, utcnow())
    elif name == "waitlist":
        changes["waitlist"] = _switch(value)
    drop = await drops.edit_drop(ctx.db, drop_id, scheduler=ctx.scheduler, **changes)

    await reply(bot, ctx, texts.drop_updated(drop, event.time_zone))


async def on_list_drops(message: Message, ctx: BotContext, bot: Bot) -> None:
    event = await require_event(ctx)
    listed = await drops.list_drops(ctx.db, event.id)
    await reply(bot, ctx, texts.drops_list(listed, event.time_zone))


async def on_cancel_drop(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot, audit: AuditNote
) -> None:
    args = require_args(command, "/canceldrop ID, e.g. /canceldrop 3 (the ids are in /listdrops)")
    drop_id = parse_id(args, "drop", "/listdrops")
    event = await require_event(ctx)

    current = await drops.get_drop(ctx.db, drop_id)
    if current is not None and current.cancelled:
        audit.result = "unchanged"
        audit.detail = f"{audit.detail}\n-> already cancelled"
        await reply(bot, ctx, texts.drop_already_cancelled(current, event.time_zone))
        return

    drop = await drops.cancel_drop(ctx.db, drop_id, scheduler=ctx.scheduler)
    await reply(bot, ctx, texts.drop_cancelled(drop, event.time_zone))


def _switch(value: str) -> bool:
    try:
        return SWITCH_VALUES[value.lower()]
    except KeyError:
        raise InputError(f'Invalid waitlist value "{value}": use on or off') from None
