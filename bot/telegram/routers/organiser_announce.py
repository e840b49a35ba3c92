"""Organiser console, announcements: send now or later, confirm big broadcasts, queue, cancel."""

from __future__ import annotations

import logging
from datetime import datetime

from aiogram import Bot, Router
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message

from bot.db.models import AnnouncementStatus
from bot.db.types import utcnow
from bot.errors import InputError, MicropopError
from bot.services import announcements, organisers
from bot.services.announcements import AnnouncementView
from bot.telegram import organiser_texts as texts
from bot.telegram.console import (
    RESULTS,
    console_command,
    parse_id,
    reply,
    require_args,
    require_event,
)
from bot.telegram.context import BotContext
from bot.telegram.organiser_access import Actor, is_organiser
from bot.telegram.organiser_chat import edit_organiser_message
from bot.telegram.organiser_keyboards import BroadcastCallback, broadcast_confirmation
from bot.timeparse import parse_when, split_leading_when

logger = logging.getLogger(__name__)

SCHEDULE_USAGE = "/schedule WHEN TEXT, e.g. /schedule 21:30 Last call at the bar"
# Telegram shows at most 200 characters of a callback answer.
MAX_ANSWER = 200


def create_router() -> Router:
    router = Router(name="organiser-announce")
    router.message.register(on_announce, console_command("announce"))
    router.message.register(on_schedule, console_command("schedule"))
    router.message.register(on_queue, console_command("queue"))
    router.message.register(on_cancel, console_command("cancel"))
    router.callback_query.register(on_broadcast_press, BroadcastCallback.filter())
    return router


async def on_announce(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot, actor: Actor
) -> None:
    await _store(bot, ctx, actor, command.args or "", None)


async def on_schedule(
    message: Message, command: CommandObject, ctx: BotContext, bot: Bot, actor: Actor
) -> None:
    when_text, text = split_leading_when(require_args(command, SCHEDULE_USAGE))
    event = await require_event(ctx)
    scheduled_for = parse_when(when_text, event.time_zone, utcnow())
    if not text:
        raise InputError(f'Missing announcement text after "{when_text}": use {SCHEDULE_USAGE}')
    await _store(bot, ctx, actor, text, scheduled_for)


async def _store(
    bot: Bot, ctx: BotContext, actor: Actor, text: str, scheduled_for: datetime | None
) -> None:
    """Store an announcement, asking for a confirmation press when it reaches many people."""
    event = await require_event(ctx)
    recipients = await announcements.count_recipients(ctx.db, event.id)
    needs_confirmation = recipients > ctx.settings.broadcast_confirm_over

    view = await announcements.create(
        ctx.db,
        ctx.scheduler,
        text=text,
        created_by=actor.label,
        scheduled_for=scheduled_for,
        needs_confirmation=needs_confirmation,
    )

    if view.status == AnnouncementStatus.AWAITING_CONFIRMATION:
        second = ctx.settings.broadcast_second_organiser
        await reply(
            bot,
            ctx,
            texts.confirmation_needed(view, event.time_zone, second_organiser=second),
            reply_markup=broadcast_confirmation(view.id),
        )
    else:
        now = scheduled_for is None
        await reply(bot, ctx, texts.announcement_queued(view, event.time_zone, now=now))


async def on_queue(message: Message, ctx: BotContext, bot: Bot) -> None:
    event = await require_event(ctx)
    await reply(bot, ctx, texts.queue_list(await announcements.queue(ctx.db), event.time_zone))


async def on_cancel(message: Message, command: CommandObject, ctx: BotContext, bot: Bot) -> None:
    args = require_args(command, "/cancel ID, e.g. /cancel 12 (the ids are in /queue)")
    view = await announcements.cancel(
        ctx.db, ctx.scheduler, parse_id(args, "announcement", "/queue")
    )
    await reply(bot, ctx, texts.announcement_cancelled(view))


async def on_broadcast_press(
    query: CallbackQuery, callback_data: BroadcastCallback, ctx: BotContext, bot: Bot
) -> None:
    """Confirm or discard a broadcast, after checking the presser is an organiser right now."""
    message = query.message if isinstance(query.message, Message) else None
    user = query.from_user
    actor = Actor(user.id, user.full_name, message.chat.id if message else user.id)
    action = f"broadcast-{callback_data.action}"
    detail = f"announcement {callback_data.announcement_id}"

    organiser_chat_ids = await organisers.chat_ids(ctx.db, ctx.settings.organiser_chat_id)
    in_group = message is not None and message.chat.id in organiser_chat_ids
    if not in_group or not await is_organiser(bot, ctx, user):
        await _audit(ctx, actor, action, detail, "refused")
        await query.answer(texts.press_rejected(), show_alert=True)
        return

    try:
        outcome = await _apply_press(ctx, actor, callback_data)
    except MicropopError as error:
        await _audit(
            ctx, actor, action, f"{detail}\n-> {error}", RESULTS.get(type(error), "error")
        )
        await query.answer(str(error)[:MAX_ANSWER], show_alert=True)
        return
    if outcome is None:
        await _audit(ctx, actor, action, f"{detail}\n-> same organiser", "refused")
        await query.answer(texts.second_organiser_needed(), show_alert=True)
        return

    await _audit(ctx, actor, action, detail, "ok")
    await query.answer()
    assert message is not None
    # Editing the text without a keyboard removes the buttons, so they cannot be pressed twice.
    await edit_organiser_message(bot, ctx.db, ctx.settings, message.message_id, outcome)


async def _apply_press(
    ctx: BotContext, actor: Actor, callback_data: BroadcastCallback
) -> str | None:
    """Confirm or discard, and return the new text, or None when another organiser must confirm."""
    announcement_id = callback_data.announcement_id
    event = await require_event(ctx)
    if callback_data.action == "discard":
        view = await announcements.cancel(ctx.db, ctx.scheduler, announcement_id)
        return texts.discarded(view, actor.name)
    if callback_data.action != "confirm":
        raise InputError(f'Unknown button action "{callback_data.action}": press the button again')

    if ctx.settings.broadcast_second_organiser:
        current: AnnouncementView = await announcements.get(ctx.db, announcement_id)
        if current.created_by == actor.label:
            return None
    view = await announcements.confirm(ctx.db, ctx.scheduler, announcement_id, actor.label)
    logger.info(
        "Broadcast confirmed: announcement_id=%s user_id=%s", announcement_id, actor.user_id
    )
    return texts.confirmed(view, event.time_zone, actor.name)


async def _audit(ctx: BotContext, actor: Actor, action: str, detail: str, result: str) -> None:
    await organisers.record(
        ctx.db, actor.user_id, actor.name, actor.chat_id, action, detail, result
    )
