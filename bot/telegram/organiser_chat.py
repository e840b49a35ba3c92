"""Messages to the organiser group, which follow the group when it becomes a supergroup.

Every message for the organisers goes through this module. When Telegram reports that the group
migrated (400 with `migrate_to_chat_id`), the stored id moves and the message is sent again to
the supergroup, so nothing addressed to the organisers is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramMigrateToChat
from aiogram.methods import EditMessageText, SendDocument, SendMessage
from aiogram.methods.base import TelegramMethod
from aiogram.types import InputFile, Message

from bot.db.engine import Database
from bot.services import organisers
from bot.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
MethodFactory = Callable[[int], TelegramMethod[T]]


async def call_in_organiser_chat(
    bot: Bot, db: Database, settings: Settings, build: MethodFactory[T]
) -> T | None:
    """Call the Bot API method that `build(chat_id)` makes for the organiser group.

    Returns None without calling anything when no organiser group is configured. A migration
    error moves the stored id and repeats the call once for the supergroup.
    """
    chat_id = await organisers.chat_id(db, settings.organiser_chat_id)
    if not chat_id:
        logger.warning("Organiser message not sent: reason=no organiser chat configured")
        return None
    try:
        return await bot(build(chat_id))
    except TelegramMigrateToChat as error:
        new_id = error.migrate_to_chat_id
        await organisers.move_chat(db, chat_id, new_id)
        logger.warning(
            "Organiser message resent after migration: old_chat_id=%s new_chat_id=%s",
            chat_id,
            new_id,
        )
        return await bot(build(new_id))


async def send_to_organisers(
    bot: Bot, db: Database, settings: Settings, text: str, **kwargs: Any
) -> Message | None:
    """Send a text message to the organiser group. `kwargs` are sendMessage parameters."""
    return await call_in_organiser_chat(
        bot, db, settings, lambda chat_id: SendMessage(chat_id=chat_id, text=text, **kwargs)
    )


async def send_document_to_organisers(
    bot: Bot, db: Database, settings: Settings, document: InputFile, **kwargs: Any
) -> Message | None:
    return await call_in_organiser_chat(
        bot,
        db,
        settings,
        lambda chat_id: SendDocument(chat_id=chat_id, document=document, **kwargs),
    )


async def edit_organiser_message(
    bot: Bot, db: Database, settings: Settings, message_id: int, text: str, **kwargs: Any
) -> int | None:
    """Edit a message in the organiser group, and return the id of the message showing `text`.

    A message from before a migration cannot be edited in the supergroup, and a deleted one
    cannot be edited at all, so the text is sent as a new message and its id is returned. An
    edit that changes nothing is not an error.
    """
    chat_id = await organisers.chat_id(db, settings.organiser_chat_id)
    if not chat_id:
        logger.warning("Organiser message not edited: reason=no organiser chat configured")
        return None
    try:
        await bot(EditMessageText(chat_id=chat_id, message_id=message_id, text=text, **kwargs))
    except TelegramMigrateToChat as error:
        await organisers.move_chat(db, chat_id, error.migrate_to_chat_id)
        logger.warning(
            "Organiser message sent anew after migration: message_id=%s new_chat_id=%s",
            message_id,
            error.migrate_to_chat_id,
        )
        message = await send_to_organisers(bot, db, settings, text, **kwargs)
        return message.message_id if message else None
    except TelegramBadRequest as error:
        if "message is not modified" in error.message:
            return message_id
        if "message to edit not found" not in error.message:
            raise
        # NOTE: a message id from before a migration that also exists in the supergroup edits
        # that message instead. Storing the chat id with each message id would prevent it.
        logger.warning(
            "Organiser message sent anew: message_id=%s chat_id=%s error=%s",
            message_id,
            chat_id,
            error.message,
        )
        message = await send_to_organisers(bot, db, settings, text, **kwargs)
        return message.message_id if message else None
    return message_id
