"""Callback data and inline keyboards of drop cards and receipts; buttons carry only ids."""

from __future__ import annotations

from datetime import datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.services.drop_cards import DropCard, DropOverview
from bot.services.receipts import Receipt
from bot.telegram import drop_texts
from bot.telegram.callbacks import RowId


class DropAction:
    OPEN = "o"
    REFRESH = "r"
    CLAIM = "c"
    REMIND = "m"
    WAIT = "w"
    ACCEPT = "a"


class DropCallback(CallbackData, prefix="dr"):
    """A drop-card button: the action letter and the drop id, e.g. `dr:c:42`."""

    action: str
    drop_id: RowId


class ReceiptCallback(CallbackData, prefix="rc"):
    """A receipt button for organisers: `rc:k:<claim id>` marks the claim collected."""

    action: str
    claim_id: RowId


COLLECT = "k"


def drop_list(overview: DropOverview) -> InlineKeyboardMarkup | None:
    if not overview.cards:
        return None
    builder = InlineKeyboardBuilder()
    for card in overview.cards:
        builder.button(
            text=drop_texts.button_open(card.drop.title),
            callback_data=DropCallback(action=DropAction.OPEN, drop_id=card.drop.id),
        )
    builder.adjust(1)
    return builder.as_markup()


def drop_card(card: DropCard, now: datetime) -> InlineKeyboardMarkup:
    drop = card.drop
    builder = InlineKeyboardBuilder()
    if card.wait is not None and card.wait.status == "offered":
        builder.button(
            text=drop_texts.button_accept(),
            callback_data=DropCallback(action=DropAction.ACCEPT, drop_id=drop.id),
        )
    elif drop.is_live(now) and drop.remaining > 0:
        builder.button(
            text=drop_texts.button_claim(),
            callback_data=DropCallback(action=DropAction.CLAIM, drop_id=drop.id),
        )
    elif drop.is_live(now) and drop.waitlist and card.wait is None:
        builder.button(
            text=drop_texts.button_wait(),
            callback_data=DropCallback(action=DropAction.WAIT, drop_id=drop.id),
        )
    builder.button(
        text=drop_texts.button_refresh(),
        callback_data=DropCallback(action=DropAction.REFRESH, drop_id=drop.id),
    )
    if not drop.is_live(now) and not drop.cancelled:
        builder.button(
            text=drop_texts.button_reminders(card.reminders_on),
            callback_data=DropCallback(action=DropAction.REMIND, drop_id=drop.id),
        )
    builder.adjust(1, 2)
    return builder.as_markup()


def receipt_actions(receipt: Receipt) -> InlineKeyboardMarkup | None:
    """Return the organiser's "Mark collected" button, or None once it can no longer work."""
    if receipt.status != "held":
        return None
    builder = InlineKeyboardBuilder()
    builder.button(
        text=drop_texts.button_collect(),
        callback_data=ReceiptCallback(action=COLLECT, claim_id=receipt.claim_id),
    )
    return builder.as_markup()
