"""Attendee commands in the private chat: /start, /help, /stop, /map and the card buttons."""

from __future__ import annotations

import logging
import re

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message, User

from bot import links
from bot.services import attendees, events, onboarding
from bot.services.attendees import Arrival
from bot.telegram import keyboards, texts, venue_map
from bot.telegram.callbacks import MenuCallback
from bot.telegram.context import BotContext
from bot.telegram.routers import drops

logger = logging.getLogger(__name__)


def create_router() -> Router:
    router = Router(name="attendee")
    router.message.filter(F.chat.type == "private")
    router.message.register(on_start, CommandStart())
    router.message.register(on_help, Command("help"))
    router.message.register(on_stop, Command("stop"))
    router.message.register(on_map, Command("map"))
    router.callback_query.register(on_menu, MenuCallback.filter())
    return router


def create_unknown_command_router() -> Router:
    """Point attendees to /help for a command that no router handled in their private chat."""
    # Included after every other router: attendee commands live in several of them.
    router = Router(name="attendee-unknown-command")
    router.message.filter(F.chat.type == "private")
    router.message.register(on_unknown_command, Command(re.compile(r"\S+")))
    return router


def _arrival(user: User, chat_id: int, source: str) -> Arrival:
    return Arrival(
        telegram_user_id=user.id,
        chat_id=chat_id,
        display_name=user.full_name,
        username=user.username,
        language_code=user.language_code,
        source=source,
    )


async def on_start(message: Message, command: CommandObject, ctx: BotContext) -> None:
    assert message.from_user is not None
    link, rejected = onboarding.parse_payload(command.args, ctx.secret)
    if link is not None and link.kind is links.LinkKind.RECEIPT:
        # Organisers scan receipts at the counter; that must not register or subscribe them.
        await drops.show_receipt(message, link.id, message.from_user, ctx)
        return
    arrival = _arrival(message.from_user, message.chat.id, onboarding.arrival_source(link))

    landing = await ctx.arrivals.arrive(link, arrival, link_rejected=rejected)
    if landing.caught_up:
        ctx.wake_workers()

    if landing.event is None or landing.attendee is None:
        await message.answer(texts.no_event())
        return
    card = texts.event_card(
        landing.event, message.from_user.full_name, returning=not landing.attendee.is_new
    )
    if landing.link_rejected:
        # One message, not two: a private chat takes about one message a second.
        card = f"{texts.link_not_recognised()}\n\n{card}"
    await message.answer(card, reply_markup=keyboards.event_card(subscribed=True))
    if link is not None and link.kind is links.LinkKind.DROP:
        await drops.show_drop(message, link.id, message.from_user, ctx)


async def on_help(message: Message) -> None:
    await message.answer(texts.help_text())


async def on_stop(message: Message, ctx: BotContext) -> None:
    assert message.from_user is not None
    event = await events.active_event(ctx.db)
    changed = None
    if event is not None:
        changed = await attendees.set_subscribed(ctx.db, event.id, message.from_user.id, False)
    await message.answer(texts.stopped() if changed else texts.not_registered())


async def on_map(message: Message, ctx: BotContext) -> None:
    await send_map(message, ctx)


async def send_map(message: Message, ctx: BotContext) -> None:
    event = await events.active_event(ctx.db)
    if event is None:
        await message.answer(texts.no_event())
        return
    sender = ctx.extras.get("send_map")
    if sender is not None:
        await sender(message, event, ctx)
        return
    points = await events.list_points(ctx.db, event.id)
    assert message.bot is not None
    for build in venue_map.map_methods(event, points):
        await message.bot(build(message.chat.id))


async def on_menu(query: CallbackQuery, callback_data: MenuCallback, ctx: BotContext) -> None:
    message = query.message
    if not isinstance(message, Message):
        await query.answer()
        return
    if callback_data.action == "map":
        await query.answer()
        await send_map(message, ctx)
    elif callback_data.action == "notify":
        await _toggle_notifications(query, message, ctx)
    elif callback_data.action == "drops":
        await query.answer()
        await drops.show_drops(message, query.from_user, ctx)
    else:
        await query.answer()


async def _toggle_notifications(query: CallbackQuery, message: Message, ctx: BotContext) -> None:
    event = await events.active_event(ctx.db)
    current = await attendees.find(ctx.db, event.id, query.from_user.id) if event else None
    if event is None or current is None:
        await query.answer(texts.not_registered(), show_alert=True)
        return
    updated = await attendees.set_subscribed(
        ctx.db, event.id, query.from_user.id, not current.subscribed
    )
    assert updated is not None
    await query.answer(
        texts.notifications_on() if updated.subscribed else texts.notifications_off()
    )
    await message.edit_reply_markup(
        reply_markup=keyboards.event_card(subscribed=updated.subscribed)
    )


async def on_unknown_command(message: Message, command: CommandObject) -> None:
    await message.answer(texts.unknown_command(command.command))
