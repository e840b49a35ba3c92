"""Inline keyboards built from plain views."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.telegram import texts
from bot.telegram.callbacks import MenuCallback


def event_card(subscribed: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.button_map(), callback_data=MenuCallback(action="map"))
    builder.button(text=texts.button_drops(), callback_data=MenuCallback(action="drops"))
    builder.button(
        text=texts.button_notifications(subscribed), callback_data=MenuCallback(action="notify")
    )
    builder.adjust(2, 1)
    return builder.as_markup()
