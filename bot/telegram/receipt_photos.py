"""Receipt QR pictures: rendered once, uploaded once, then sent by Telegram file id."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message

from bot.db.engine import Database
from bot.services import receipts

logger = logging.getLogger(__name__)


async def send_qr(
    bot: Bot,
    db: Database,
    chat_id: int,
    link: str,
    caption: str,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """Send the QR code of `link` as a photo, reusing the file id of an earlier upload."""
    picture = receipts.render_qr_png(link)
    digest = receipts.sha256_hex(picture)
    file_id = await receipts.cached_file_id(db, digest)
    if file_id is not None:
        return await bot.send_photo(chat_id, file_id, caption=caption, reply_markup=reply_markup)
    sent = await bot.send_photo(
        chat_id,
        BufferedInputFile(picture, filename="receipt.png"),
        caption=caption,
        reply_markup=reply_markup,
    )
    if sent.photo:
        # The largest size is the original upload; any size's file id resends all of them.
        await receipts.remember_file_id(db, digest, sent.photo[-1].file_id)
    logger.info("Receipt picture uploaded: chat_id=%s sha256=%s", chat_id, digest[:12])
    return sent
