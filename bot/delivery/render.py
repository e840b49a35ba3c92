"""Turn an announcement into the message parts one recipient gets."""

from __future__ import annotations

from functools import lru_cache

from aiogram.utils.i18n import I18n

from bot.telegram.factory import create_i18n

TELEGRAM_TEXT_LIMIT = 4096


@lru_cache(maxsize=1)
def _i18n() -> I18n:
    return create_i18n()


def delayed_mark(language: str) -> str:
    # Looked up with the attendee's language: fan-out runs outside any update's i18n context.
    return _i18n().gettext("Delayed announcement:", locale=language)


def render_parts(text: str, *, delayed: bool, language: str) -> list[str]:
    """Return the parts to send, plain text, each within Telegram's 4096-character limit."""
    if delayed:
        text = f"{delayed_mark(language)}\n{text}"
    if len(text.encode("utf-16-le")) // 2 <= TELEGRAM_TEXT_LIMIT:
        return [text]
    from bot.textsplit import split_text

    return split_text(text, limit=TELEGRAM_TEXT_LIMIT, html=False)
