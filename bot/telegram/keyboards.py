"""Inline keyboards built from plain views."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram import texts
from bot.telegram.callbacks import MenuCallback


def event_card(subscribed: bool) -> InlineKeyboardMarkup:
    # Built without InlineKeyboardBuilder, which copies every button: in a profile of
    # bench/updates.py it took about a tenth of the bot's time on a /start.
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _menu_button(texts.button_map(), "map"),
                _menu_button(texts.button_drops(), "drops"),
            ],
            [_menu_button(texts.button_notifications(subscribed), "notify")],
        ]
    )


def _menu_button(text: str, action: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=MenuCallback(action=action).pack())
