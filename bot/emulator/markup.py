"""Validate reply_markup like the Bot API: keyboard shape, button text, callback data and URLs."""

import json
from typing import Any
from urllib.parse import urlsplit

from bot.emulator.errors import bad_request

# Bot API: callback_data is 1-64 bytes; Telegram rejects keyboards of more than 100 buttons.
MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTONS = 100
INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
URL_SCHEMES = ("http", "https", "tg", "ton")


def parse_reply_markup(raw: Any) -> dict[str, Any] | None:
    """Return the decoded reply_markup, or raise APIError 400 with Telegram's description."""
    if raw is None or raw == "":
        return None
    markup = raw
    if isinstance(raw, str):
        try:
            markup = json.loads(raw)
        except ValueError:
            raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")

    if "inline_keyboard" in markup:
        _check_rows(markup["inline_keyboard"], _check_inline_button)
    elif "keyboard" in markup:
        _check_rows(markup["keyboard"], _check_reply_button)
    elif not markup.get("remove_keyboard") and not markup.get("force_reply"):
        raise bad_request("can't parse reply keyboard markup JSON object")
    return markup


def _check_rows(rows: Any, check_button: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    for row in rows:
        for button in row:
            check_button(button)


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    _check_button_text(button.get("text"))
    actions = [name for name in INLINE_ACTIONS if name in button]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )

    if "callback_data" in button:
        data = button["callback_data"]
        size = len(data.encode("utf-8")) if isinstance(data, str) else 0
        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        _check_url(button["url"])


def _check_reply_button(button: Any) -> None:
    if isinstance(button, str):
        _check_button_text(button)
    elif isinstance(button, dict):
        _check_button_text(button.get("text"))
    else:
        raise bad_request(
            "can't parse keyboard button: KeyboardButton must be a String or an Object"
        )


def _check_button_text(text: Any) -> None:
    if not isinstance(text, str) or not text.strip():
        raise bad_request("text buttons must have non-empty text")


def _check_url(url: Any) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if not parts or parts.scheme.lower() not in URL_SCHEMES or not (parts.netloc or parts.path):
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def inline_keyboard(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the part of reply_markup that Telegram attaches to the sent Message, if any."""
    if markup and markup.get("inline_keyboard"):
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None
