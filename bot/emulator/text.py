"""Text units and limits: UTF-16 lengths, message and caption limits, explicit entity lists."""

import json
from typing import Any

from bot.emulator.errors import bad_request

# Bot API limits, counted in UTF-16 code units after entity parsing.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
ENTITY_TYPES = {
    "mention",
    "hashtag",
    "cashtag",
    "bot_command",
    "url",
    "email",
    "phone_number",
    "bold",
    "italic",
    "underline",
    "strikethrough",
    "spoiler",
    "blockquote",
    "expandable_blockquote",
    "code",
    "pre",
    "text_link",
    "text_mention",
    "custom_emoji",
    "date_time",
}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort entities by offset, outer before inner; parsers append inner entities first."""
    numbered = list(enumerate(entities))
    numbered.sort(key=lambda item: (item[1]["offset"], -item[1]["length"], -item[0]))
    return [entity for _, entity in numbered]


def check_text(text: str) -> None:
    if not text.strip():
        raise bad_request("message text is empty")
    if utf16_len(text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")


def check_caption(caption: str) -> None:
    if utf16_len(caption) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")


def check_entities(entities: Any, text: str) -> list[dict[str, Any]]:
    if isinstance(entities, str):
        try:
            entities = json.loads(entities)
        except ValueError:
            raise bad_request("can't parse entities JSON object") from None
    if not isinstance(entities, list):
        raise bad_request("can't parse entities JSON object")

    total = utf16_len(text)
    checked = []
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("type") not in ENTITY_TYPES:
            raise bad_request("can't parse entities: unsupported entity type")
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise bad_request("can't parse entities: entity offset and length must be integers")
        if offset < 0 or length < 0 or offset + length > total:
            raise bad_request("can't parse entities: entity is outside of the text")
        if length:
            checked.append(dict(entity))
    return sorted(checked, key=lambda entity: (entity["offset"], -entity["length"]))
