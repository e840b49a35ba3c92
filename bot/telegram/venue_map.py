"""The venue map as attendees get it: the picture, the venue with its location, the points.

The same messages serve attendees' /map and the organisers' preview, so they are built as
Bot API method factories that each caller aims at its own chat.
"""

from __future__ import annotations

from collections.abc import Callable

from aiogram.methods import SendMessage, SendPhoto, SendVenue
from aiogram.methods.base import TelegramMethod

from bot.services.views import EventView, PointView
from bot.telegram import texts
from bot.textsplit import TELEGRAM_CAPTION_LIMIT, split_text, visible_len

MethodFactory = Callable[[int], TelegramMethod]


def map_methods(event: EventView, points: list[PointView]) -> list[MethodFactory]:
    """Build the messages of the venue map, in the order they are sent."""
    methods: list[MethodFactory] = []
    if event.map_file_id:
        methods += _picture(event.map_file_id, _caption(event))
    else:
        methods.append(_text(texts.no_map()))

    if event.latitude is not None and event.longitude is not None:
        title = event.venue_name or event.title
        # sendVenue rejects an empty address, so the venue's name replaces a missing one.
        address = event.venue_address or title
        methods.append(
            lambda chat_id: SendVenue(
                chat_id=chat_id,
                latitude=event.latitude,
                longitude=event.longitude,
                title=title,
                address=address,
            )
        )
        if points:
            methods += _texts(texts.points_of_interest(points))
    else:
        methods += _texts(texts.venue_details(event, points))
    return methods


def _caption(event: EventView) -> str:
    caption = texts.map_caption(event)
    if event.map_caption:
        caption += "\n\n" + texts.quote(event.map_caption)
    return caption


def _picture(file_id: str, caption: str) -> list[MethodFactory]:
    """Send the picture by its Telegram file_id, never uploading it again.

    A caption over Telegram's 1024-character limit is cut at a boundary, and the rest follows
    as text messages.
    """
    if visible_len(caption, html=True) <= TELEGRAM_CAPTION_LIMIT:
        return [lambda chat_id: SendPhoto(chat_id=chat_id, photo=file_id, caption=caption)]
    first, *rest = split_text(caption, limit=TELEGRAM_CAPTION_LIMIT, html=True)
    methods: list[MethodFactory] = [
        lambda chat_id: SendPhoto(chat_id=chat_id, photo=file_id, caption=first)
    ]
    methods += _texts("\n".join(rest))
    return methods


def _text(text: str) -> MethodFactory:
    return lambda chat_id: SendMessage(chat_id=chat_id, text=text)


def _texts(text: str) -> list[MethodFactory]:
    """Send `text` as one message, or as several when it is over Telegram's 4096 characters."""
    return [_text(part) for part in split_text(text, html=True)]
