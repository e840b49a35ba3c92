"""/forget in the private chat: a confirmation button, then the attendee's data is deleted."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.services import privacy
from bot.telegram import privacy_texts as texts
from bot.telegram.context import BotContext
from bot.telegram.retention import delete_now

logger = logging.getLogger(__name__)

FORGET = "yes"
KEEP = "no"


class ForgetCallback(CallbackData, prefix="fg"):
    """A /forget button; it carries no id, so a press can only ever delete the presser's data."""

    action: str


def create_router() -> Router:
    router = Router(name="privacy")
    router.message.register(on_forget, Command("forget"), F.chat.type == "private")
    router.callback_query.register(on_forget_press, ForgetCallback.filter())
    return router


def confirmation() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.button_forget(), callback_data=ForgetCallback(action=FORGET))
    builder.button(text=texts.button_keep(), callback_data=ForgetCallback(action=KEEP))
    builder.adjust(1)
    return builder.as_markup()


async def on_forget(message: Message) -> None:
    await message.answer(texts.confirm_forget(), reply_markup=confirmation())


async def on_forget_press(
    query: CallbackQuery, callback_data: ForgetCallback, ctx: BotContext, bot: Bot
) -> None:
    if callback_data.action != FORGET:
        await query.answer()
        await _replace_text(query, texts.kept())
        return

    forgotten = await privacy.forget(ctx.db, query.from_user.id)
    logger.info("Forget confirmed: attendees=%s", forgotten.attendees)

    await query.answer()
    await delete_now(bot, forgotten.messages)
    await _replace_text(
        query, texts.forgotten() if forgotten.attendees else texts.nothing_to_forget()
    )


async def _replace_text(query: CallbackQuery, text: str) -> None:
    """Replace the confirmation with the outcome; without a keyboard nobody presses twice."""
    if not isinstance(query.message, Message):
        return
    try:
        await query.message.edit_text(text)
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:
            logger.warning("Forget confirmation not edited: error=%s", exc.message)
