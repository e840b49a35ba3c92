"""Messages about expired holds and waiting-list offers, sent after each `expire_holds` run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.services import events, holds
from bot.services.holds import HoldExpiry, Notice
from bot.telegram import drop_texts
from bot.telegram.context import BotContext
from bot.telegram.drop_keyboards import DropAction, DropCallback
from bot.telegram.factory import create_i18n

logger = logging.getLogger(__name__)

I18N_KEY = "hold_notices_i18n"


async def run_hold_expiry(bot: Bot, ctx: BotContext, now: datetime | None = None) -> HoldExpiry:
    """Expire holds and offers, then tell each person involved; for the 30-second job."""
    result = await holds.expire_holds(ctx.db, now)
    if result.empty:
        return result
    event = await events.active_event(ctx.db)
    zone = event.time_zone if event else ctx.settings.time_zone
    i18n = ctx.extras.get(I18N_KEY) or ctx.extras.setdefault(I18N_KEY, create_i18n())
    # NOTE: these go straight to the Bot API, not through the outbox, so a crash between the
    # commit and the send loses the message. The drop card still shows the offer.
    for notice in result.released:
        await _send(bot, i18n, notice, drop_texts.hold_released)
    for notice in result.expired_offers:
        await _send(bot, i18n, notice, drop_texts.offer_expired)
    for notice in result.offers:
        await _send(bot, i18n, notice, partial(drop_texts.offer_made, zone=zone), offer=True)
    return result


def _take_button(notice: Notice) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=drop_texts.button_accept(),
        callback_data=DropCallback(action=DropAction.ACCEPT, drop_id=notice.drop_id),
    )
    return builder.as_markup()


async def _send(
    bot: Bot,
    i18n: I18n,
    notice: Notice,
    render: Callable[[Notice], str],
    *,
    offer: bool = False,
) -> None:
    if notice.chat_id is None:
        return
    with i18n.context(), i18n.use_locale(notice.language):
        text = render(notice)
        markup = _take_button(notice) if offer else None
    try:
        await bot.send_message(notice.chat_id, text, reply_markup=markup)
    except TelegramAPIError as exc:
        logger.warning(
            "Hold notice not sent: drop_id=%s chat_id=%s error=%s",
            notice.drop_id,
            notice.chat_id,
            exc,
        )
