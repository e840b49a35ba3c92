"""The organiser console in the organiser group, its group migration and its rejections.

Order matters: migration service messages first, then the console (which only organisers in
the organiser group pass), then the rejection of console commands anywhere else. The router
goes before the attendee router, so the only console command an attendee handler sees is /map
(without a photo) in a private chat, which is also the attendee's command.
"""

from __future__ import annotations

import logging
import re

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.services import exports, organisers, statistics
from bot.telegram import organiser_texts as texts
from bot.telegram.console import (
    ATTENDEE_COMMANDS,
    ORGANISER_COMMANDS,
    AuditMiddleware,
    AuditNote,
    closest_command,
    console_command,
    reply,
    require_event,
)
from bot.telegram.context import BotContext
from bot.telegram.organiser_access import OrganiserGroup, Origin, sender_origin
from bot.telegram.organiser_chat import send_document_to_organisers
from bot.telegram.routers import (
    organiser_announce,
    organiser_drops,
    organiser_event,
    organiser_hardware,
)

logger = logging.getLogger(__name__)

AUDIT_ENTRIES_SHOWN = 20
# Any command name. Command's mention check still skips /cmd@otherbot, addressed to another bot.
ANY_COMMAND = re.compile(r"\S+")


def create_router() -> Router:
    router = Router(name="organiser")
    router.message.register(on_migrated_to, F.migrate_to_chat_id)
    router.message.register(on_migrated_from, F.migrate_from_chat_id)

    console = Router(name="organiser-console")
    console.message.filter(OrganiserGroup())
    console.message.middleware(AuditMiddleware())
    console.message.register(on_help, console_command("help"))
    console.message.register(on_stats, console_command("stats"))
    console.message.register(on_export, console_command("export"))
    console.message.register(on_audit, console_command("audit"))
    console.include_routers(
        organiser_event.create_router(),
        organiser_drops.create_router(),
        organiser_announce.create_router(),
        organiser_hardware.create_router(),
        create_unknown_command_router(),
    )

    outside = Router(name="organiser-outside")
    # In a private chat /map is an attendee command, but a photo captioned /map is not.
    attendee_free = [name for name in ORGANISER_COMMANDS if name not in ATTENDEE_COMMANDS]
    outside.message.register(on_command_outside, console_command("map"), F.photo)
    outside.message.register(on_command_outside, console_command(*attendee_free))
    outside.message.register(
        on_command_outside, console_command(*ORGANISER_COMMANDS), F.chat.type != "private"
    )
    router.include_routers(console, outside)
    return router


def create_unknown_command_router() -> Router:
    # Included after every console router, so it only receives commands that none of them handles.
    router = Router(name="organiser-unknown-command")
    router.message.register(on_unknown_command, Command(ANY_COMMAND))
    return router


async def on_migrated_to(message: Message, ctx: BotContext, bot: Bot) -> None:
    """Follow the organiser group when Telegram turns it into a supergroup."""
    assert message.migrate_to_chat_id is not None
    if await organisers.move_chat(ctx.db, message.chat.id, message.migrate_to_chat_id):
        await reply(bot, ctx, texts.migrated())


async def on_migrated_from(message: Message, ctx: BotContext, bot: Bot) -> None:
    # The supergroup's first message. Updates run concurrently, so either message may move
    # the id first, and only the one that moved it posts the notice.
    assert message.migrate_from_chat_id is not None
    if await organisers.move_chat(ctx.db, message.migrate_from_chat_id, message.chat.id):
        await reply(bot, ctx, texts.migrated())


async def on_help(message: Message, ctx: BotContext, bot: Bot) -> None:
    await reply(bot, ctx, texts.help_text())


async def on_stats(message: Message, ctx: BotContext, bot: Bot) -> None:
    figures = await statistics.night_stats(ctx.db)
    await reply(bot, ctx, texts.stats(figures))


async def on_export(message: Message, ctx: BotContext, bot: Bot) -> None:
    export = await exports.export_night(ctx.db)
    document = BufferedInputFile(export.data, filename=export.filename)
    await send_document_to_organisers(
        bot, ctx.db, ctx.settings, document, caption=texts.export_caption(export)
    )


async def on_audit(message: Message, ctx: BotContext, bot: Bot) -> None:
    event = await require_event(ctx)
    entries = await organisers.recent(ctx.db, AUDIT_ENTRIES_SHOWN)
    await reply(bot, ctx, texts.audit_list(entries, event.time_zone))


async def on_unknown_command(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot, audit: AuditNote
) -> None:
    """Name an unknown command in the organiser group and suggest the closest known one."""
    suggestion = closest_command(command.command)
    audit.result = "invalid"
    audit.detail = f"{audit.detail}\n-> unknown command, suggested {suggestion or 'none'}"
    logger.info("Unknown organiser command: command=%s suggestion=%s", command.command, suggestion)
    await reply(bot, ctx, texts.unknown_command(command.command, suggestion))


async def on_command_outside(message: Message, command: CommandObject, ctx: BotContext) -> None:
    """Reject a console command outside the organiser group, but ignore posts made as a chat."""
    name = command.command.lower()
    organiser_chat_ids = await organisers.chat_ids(ctx.db, ctx.settings.organiser_chat_id)
    origin = sender_origin(message, organiser_chat_ids)
    if origin is Origin.IGNORED:
        logger.info(
            "Command from a chat ignored: command=%s chat_id=%s sender_chat_id=%s",
            name,
            message.chat.id,
            message.sender_chat.id if message.sender_chat else None,
        )
        return

    user = message.from_user
    await organisers.record(
        ctx.db,
        user.id if user else None,
        user.full_name if user else "",
        message.chat.id,
        name,
        message.text or message.caption or "",
        "rejected",
    )
    await message.answer(texts.rejected_outside())
