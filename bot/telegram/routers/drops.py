"""Drops in Telegram: /drops, drop cards, claim presses, receipts and collection."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, User

from bot.db.types import utcnow
from bot.services import claims, drop_cards, drops, events, holds, organisers, receipts
from bot.services.claims import ClaimOutcome, ClaimResult
from bot.services.receipts import ReceiptLinks
from bot.telegram import drop_texts, texts
from bot.telegram.context import BotContext
from bot.telegram.drop_board import announce_sold_out, board_for, close_board
from bot.telegram.drop_keyboards import (
    COLLECT,
    DropAction,
    DropCallback,
    ReceiptCallback,
    drop_card,
    drop_list,
    receipt_actions,
)
from bot.telegram.receipt_photos import send_qr
from bot.telegram.retention import remember

logger = logging.getLogger(__name__)

MEMBER_STATUSES = {
    ChatMemberStatus.CREATOR,
    ChatMemberStatus.ADMINISTRATOR,
    ChatMemberStatus.MEMBER,
}


def create_router() -> Router:
    router = Router(name="drops")
    router.message.register(show_drops_command, Command("drops"), F.chat.type == "private")
    router.callback_query.register(on_drop_button, DropCallback.filter())
    router.callback_query.register(on_receipt_button, ReceiptCallback.filter())
    router.shutdown.register(close_board)
    return router


def receipt_links(ctx: BotContext) -> ReceiptLinks:
    return ReceiptLinks(secret=ctx.secret, bot_username=ctx.settings.bot_username)


async def show_drops_command(message: Message, ctx: BotContext) -> None:
    assert message.from_user is not None
    await show_drops(message, message.from_user, ctx)


async def show_drops(message: Message, user: User, ctx: BotContext) -> None:
    """Send the list of upcoming and live drops with the user's own claims."""
    now = utcnow()
    overview = await drop_cards.overview(ctx.db, user.id, now)
    sent = await message.answer(
        drop_texts.drop_list(overview, now), reply_markup=drop_list(overview)
    )
    # Countdowns and claim codes go stale and should not stay in the chat.
    await remember(ctx, sent, "drop_list")


async def show_drop(message: Message, drop_id: int, user: User, ctx: BotContext) -> None:
    """Send the card of one drop, as a drop link or the list's button opens it."""
    card = await drop_cards.card(ctx.db, drop_id, user.id)
    if card is None:
        await message.answer(drop_texts.claim_answer(ClaimResult(ClaimOutcome.NOT_FOUND)))
        return
    now = utcnow()
    sent = await message.answer(drop_texts.drop_card(card, now), reply_markup=drop_card(card, now))
    await remember(ctx, sent, "drop_card")


async def on_drop_button(
    query: CallbackQuery, callback_data: DropCallback, ctx: BotContext, bot: Bot
) -> None:
    message = query.message
    action = callback_data.action
    if action == DropAction.CLAIM:
        await _claim(query, callback_data.drop_id, ctx, bot)
    elif action == DropAction.ACCEPT:
        await _accept(query, callback_data.drop_id, ctx, bot)
    elif action == DropAction.WAIT:
        outcome = await holds.join_waitlist(
            ctx.db, drop_id=callback_data.drop_id, telegram_user_id=query.from_user.id
        )
        await query.answer(drop_texts.join_answer(outcome), show_alert=True)
    elif action == DropAction.REMIND:
        await _toggle_reminders(query, callback_data.drop_id, ctx)
    elif action == DropAction.OPEN and isinstance(message, Message):
        await query.answer()
        await show_drop(message, callback_data.drop_id, query.from_user, ctx)
        return
    else:
        await query.answer()
    await _edit_card(query, callback_data.drop_id, ctx)


async def _claim(query: CallbackQuery, drop_id: int, ctx: BotContext, bot: Bot) -> None:
    # The callback query id is the request key: a replayed press finds the same claim.
    result = await claims.claim(
        ctx.db,
        drop_id=drop_id,
        telegram_user_id=query.from_user.id,
        request_key=query.id,
        receipt_links=receipt_links(ctx),
    )
    await _answer_claim(query, result)
    await _after_claim(query, result, ctx, bot)


async def _accept(query: CallbackQuery, drop_id: int, ctx: BotContext, bot: Bot) -> None:
    result = await holds.accept_offer(
        ctx.db,
        drop_id=drop_id,
        telegram_user_id=query.from_user.id,
        request_key=query.id,
        receipt_links=receipt_links(ctx),
    )
    await _answer_claim(query, result)
    await _after_claim(query, result, ctx, bot)


async def _answer_claim(query: CallbackQuery, result: ClaimResult) -> None:
    """Answer a claim press without letting a failed answer stop what follows.

    The claim is already stored, so a 429 or another API error loses only the toast, and the
    receipt and the card update are still sent.
    """
    try:
        await query.answer(drop_texts.claim_answer(result), show_alert=not result.ok)
    except TelegramAPIError as exc:
        logger.warning(
            "Claim press not answered: query_id=%s user_id=%s outcome=%s error=%s",
            query.id,
            query.from_user.id,
            result.outcome.value,
            exc,
        )


async def _after_claim(
    query: CallbackQuery, result: ClaimResult, ctx: BotContext, bot: Bot
) -> None:
    if result.outcome is ClaimOutcome.CLAIMED and result.claim is not None:
        logger.info("Claim confirmed: claim_id=%s user_id=%s", result.claim.id, query.from_user.id)
        await _send_receipt(bot, ctx, query.from_user.id, result.claim.id)
        board_for(ctx).touch(bot, result.claim.drop_id)
    if result.announce_sold_out and result.drop is not None:
        # The organiser group has its own 20-a-minute budget; the presser must not wait on it.
        ctx.spawn(announce_sold_out(bot, ctx, result.drop.id))


async def _send_receipt(bot: Bot, ctx: BotContext, chat_id: int, claim_id: int) -> None:
    receipt = await receipts.get_receipt(ctx.db, claim_id)
    if receipt is None:
        return
    zone = await _zone(ctx)
    url = receipt_links(ctx).url(claim_id)
    try:
        sent = await send_qr(bot, ctx.db, chat_id, url, drop_texts.receipt_caption(receipt, zone))
    except TelegramAPIError as exc:
        # The claim is kept. Its code is on the drop card, and the receipt link opens it again.
        logger.warning("Receipt not sent: claim_id=%s chat_id=%s error=%s", claim_id, chat_id, exc)
        return
    await remember(ctx, sent, "receipt")


async def _toggle_reminders(query: CallbackQuery, drop_id: int, ctx: BotContext) -> None:
    card = await drop_cards.card(ctx.db, drop_id, query.from_user.id)
    attendee_id = await drop_cards.attendee_id_for(ctx.db, drop_id, query.from_user.id)
    if card is None or attendee_id is None:
        await query.answer(texts.not_registered(), show_alert=True)
        return
    enabled = await drops.set_reminder(ctx.db, drop_id, attendee_id, not card.reminders_on)
    await query.answer(drop_texts.reminders_answer(enabled))


async def _edit_card(query: CallbackQuery, drop_id: int, ctx: BotContext) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    card = await drop_cards.card(ctx.db, drop_id, query.from_user.id)
    if card is None:
        return
    now = utcnow()
    try:
        await message.edit_text(drop_texts.drop_card(card, now), reply_markup=drop_card(card, now))
    except TelegramBadRequest as exc:
        # Refresh on an unchanged card: Telegram refuses an edit to the same text.
        if "not modified" not in exc.message:
            logger.warning("Drop card not edited: drop_id=%s error=%s", drop_id, exc)


async def show_receipt(message: Message, claim_id: int, user: User, ctx: BotContext) -> None:
    """Show a receipt opened from its signed link: to its owner, or to an organiser.

    Anyone else learns nothing about it. The link's signature was checked when it was decoded.
    """
    receipt = await receipts.get_receipt(ctx.db, claim_id)
    if receipt is None:
        await message.answer(drop_texts.receipt_missing())
        return
    zone = await _zone(ctx)
    if await is_organiser(message.bot, ctx, user.id):
        sent = await message.answer(
            drop_texts.receipt_for_organiser(receipt, zone), reply_markup=receipt_actions(receipt)
        )
        await remember(ctx, sent, "receipt")
        return
    if receipt.owner_user_id != user.id:
        logger.info("Receipt rejected for another user: claim_id=%s user_id=%s", claim_id, user.id)
        await message.answer(drop_texts.receipt_not_yours())
        return
    url = receipt_links(ctx).url(claim_id)
    caption = drop_texts.receipt_caption(receipt, zone)
    assert message.bot is not None
    sent = await send_qr(message.bot, ctx.db, message.chat.id, url, caption)
    await remember(ctx, sent, "receipt")


async def on_receipt_button(
    query: CallbackQuery, callback_data: ReceiptCallback, ctx: BotContext, bot: Bot
) -> None:
    detail = f"claim {callback_data.claim_id}"
    if callback_data.action != COLLECT or not await is_organiser(bot, ctx, query.from_user.id):
        await _audit_press(query, ctx, detail, "refused")
        await query.answer(drop_texts.not_organiser(), show_alert=True)
        return
    changed, receipt = await receipts.mark_collected(
        ctx.db, callback_data.claim_id, by=query.from_user.full_name
    )
    if receipt is None:
        await _audit_press(query, ctx, f"{detail} -> not found", "not_found")
    else:
        outcome = "collected" if changed else "already settled"
        await _audit_press(query, ctx, f"{detail} -> {outcome}", "ok")
    await query.answer(drop_texts.collected_answer(changed))
    if receipt is None or not isinstance(query.message, Message):
        return
    if changed:
        logger.info("Receipt collected: claim_id=%s by=%s", receipt.claim_id, query.from_user.id)
        board_for(ctx).touch(bot, receipt.drop_id)
    zone = await _zone(ctx)
    try:
        await query.message.edit_text(
            drop_texts.receipt_for_organiser(receipt, zone), reply_markup=receipt_actions(receipt)
        )
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:
            logger.warning("Receipt not edited: claim_id=%s error=%s", receipt.claim_id, exc)


async def _audit_press(query: CallbackQuery, ctx: BotContext, detail: str, result: str) -> None:
    user = query.from_user
    chat_id = query.message.chat.id if query.message else None
    await organisers.record(
        ctx.db, user.id, user.full_name, chat_id, "receipt-collect", detail, result
    )


async def is_organiser(bot: Bot | None, ctx: BotContext, user_id: int) -> bool:
    """Return whether the user is a member of the organiser group, asked with getChatMember."""
    chat_id = await organisers.chat_id(ctx.db, ctx.settings.organiser_chat_id)
    if bot is None or not chat_id:
        return False
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except TelegramAPIError as exc:
        logger.warning("Organiser check failed: user_id=%s error=%s", user_id, exc)
        return False
    if member.status == ChatMemberStatus.RESTRICTED:
        return bool(getattr(member, "is_member", False))
    return member.status in MEMBER_STATUSES


async def _zone(ctx: BotContext) -> str:
    event = await events.active_event(ctx.db)
    return event.time_zone if event else ctx.settings.time_zone
