"""Inline keyboards of the organiser console and their callback data."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.telegram import organiser_texts as texts
from bot.telegram.callbacks import RowId


class BroadcastCallback(CallbackData, prefix="bcast"):
    """A press on a broadcast's Confirm or Discard button.

    It carries only the announcement id, and the handler looks the announcement up and checks
    the presser's membership, because a modified client can send any callback data.
    """

    action: str  # "confirm" or "discard"
    announcement_id: RowId


def broadcast_confirmation(announcement_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.button_confirm(),
        callback_data=BroadcastCallback(action="confirm", announcement_id=announcement_id),
    )
    builder.button(
        text=texts.button_discard(),
        callback_data=BroadcastCallback(action="discard", announcement_id=announcement_id),
    )
    return builder.as_markup()
