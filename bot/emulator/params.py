"""Decode Bot API parameters from query strings, urlencoded, multipart and JSON bodies.

aiogram posts every method as multipart form data, and python-telegram-bot posts urlencoded or
multipart data. Both send non-string values as JSON text inside the form fields. Telegram decodes
each field by its declared type, so the emulator does the same with the tables below.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from multidict import MultiMapping

from bot.emulator.errors import bad_request

JSON_FIELDS = {
    "allowed_updates",
    "caption_entities",
    "commands",
    "entities",
    "link_preview_options",
    "media",
    "permissions",
    "reply_markup",
    "reply_parameters",
    "scope",
}
INT_FIELDS = {
    "cache_time",
    "heading",
    "limit",
    "live_period",
    "max_connections",
    "message_id",
    "message_thread_id",
    "offset",
    "proximity_alert_radius",
    "reply_to_message_id",
    "timeout",
    "user_id",
}
FLOAT_FIELDS = {"horizontal_accuracy", "latitude", "longitude"}
BOOL_FIELDS = {
    "allow_paid_broadcast",
    "allow_sending_without_reply",
    "disable_content_type_detection",
    "disable_notification",
    "disable_web_page_preview",
    "drop_pending_updates",
    "has_spoiler",
    "protect_content",
    "show_alert",
    "show_caption_above_media",
}
CHAT_ID_FIELDS = {"chat_id", "from_chat_id"}
INTEGER_RE = re.compile(r"-?\d+$")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes


def decode_value(name: str, value: Any) -> Any:
    """Convert one field to the type the Bot API declares for it; JSON bodies pass through."""
    if not isinstance(value, str):
        return value
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            # Kept as text: the method reports the field as unparsable in Telegram's words.
            return value
    if name in CHAT_ID_FIELDS:
        return int(value) if INTEGER_RE.match(value) else value
    try:
        if name in INT_FIELDS:
            return int(value)
        if name in FLOAT_FIELDS:
            return float(value)
    except ValueError:
        raise bad_request(f"invalid {name} {value!r}: a number is expected") from None
    if name in BOOL_FIELDS:
        return value.strip().lower() in ("true", "1")
    return value


async def read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Return the decoded parameters and uploaded files of an incoming Bot API request."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.content_type == "application/json":
        body = await request.read()
        if body.strip():
            try:
                decoded = json.loads(body)
            except ValueError:
                raise bad_request("can't parse JSON request body") from None
            if isinstance(decoded, dict):
                raw.update(decoded)
    elif request.content_type == "multipart/form-data":
        await _read_multipart(await request.multipart(), raw, files)
    elif request.can_read_body:
        raw.update(await request.post())
    return decode_fields(raw), files


def decode_fields(raw: MultiMapping[Any] | dict[str, Any]) -> dict[str, Any]:
    return {name: decode_value(name, value) for name, value in raw.items()}


async def read_multipart_body(
    reader: MultipartReader,
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Decode a multipart body, such as the method aiogram returns in a webhook response."""
    raw: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    await _read_multipart(reader, raw, files)
    return decode_fields(raw), files


async def _read_multipart(
    reader: MultipartReader, raw: dict[str, Any], files: dict[str, UploadedFile]
) -> None:
    while True:
        part = await reader.next()
        if part is None:
            return
        if not isinstance(part, BodyPartReader) or not part.name:
            continue
        data = await part.read()
        if part.filename is not None:
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            files[part.name] = UploadedFile(part.name, part.filename, content_type, bytes(data))
        else:
            raw[part.name] = bytes(data).decode("utf-8", errors="replace")
