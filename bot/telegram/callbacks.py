"""Callback data of every inline button; aiogram packs each within Telegram's 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class MenuCallback(CallbackData, prefix="menu"):
    """An event-card button; carries no ids, the handler looks everything up."""

    action: str
