"""Callback data of every inline button; aiogram packs each within Telegram's 64 bytes."""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from bot.db.types import MAX_ROW_ID

# A row id in callback data. Anything else, such as 2**63 from a modified client, fails to
# unpack, so no handler ever queries the database with it.
RowId = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]


class MenuCallback(CallbackData, prefix="menu"):
    """An event-card button; carries no ids, the handler looks everything up."""

    action: str
