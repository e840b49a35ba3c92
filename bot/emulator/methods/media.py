"""Files: sendPhoto and sendDocument (upload or file_id), getFile and photo size generation."""

import io
import mimetypes
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from bot.emulator.errors import bad_request
from bot.emulator.formatting import parse_formatted
from bot.emulator.markup import inline_keyboard, parse_reply_markup
from bot.emulator.methods import MethodCall, api_method
from bot.emulator.methods.messages import deliver, target_chat
from bot.emulator.params import UploadedFile
from bot.emulator.state import EmulatorState, StoredFile
from bot.emulator.text import check_caption

if TYPE_CHECKING:
    from bot.emulator.server import BotAPIEmulator

# Bot API upload limits: 10 MB for photos, 50 MB for other files.
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
THUMBNAIL_SIDE = 90
LARGEST_SIDE = 1280


def _upload(call: MethodCall, name: str) -> UploadedFile | str:
    """Return the uploaded file part for parameter `name`, or its string value (a file_id)."""
    value = call.params.get(name)
    if value is None and name in call.files:
        return call.files[name]
    if isinstance(value, str) and value.startswith("attach://"):
        attached = call.files.get(value.removeprefix("attach://"))
        if attached is None:
            raise bad_request(f"file {value!r} is not attached to the request")
        return attached
    if not isinstance(value, str) or not value:
        raise bad_request(f"there is no {name} in the request")
    if value.startswith(("http://", "https://")):
        # NOTE: the emulator never fetches URLs, so that tests cannot reach other hosts.
        raise bad_request("failed to get HTTP URL content")
    return value


def photo_sizes(state: EmulatorState, data: bytes, unique_id: str | None = None) -> list[dict]:
    """Store a photo and return its PhotoSize list, smallest first, as Telegram does."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError):
        raise bad_request("IMAGE_PROCESS_FAILED") from None
    # Bot API: width + height at most 10000 and a side ratio of at most 20.
    if width + height > 10000 or max(width, height) > 20 * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")

    scales = [min(1.0, side / max(width, height)) for side in (THUMBNAIL_SIDE, LARGEST_SIDE)]
    if scales[0] == 1.0:
        scales = [1.0]
    sizes = []
    for number, scale in enumerate(scales, start=1):
        # NOTE: every size stores the original bytes; only the reported dimensions are scaled.
        largest_id = unique_id if number == len(scales) else None
        stored = state.files.add(data, "photos", ".jpg", unique_id=largest_id)
        size = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        size |= {"file_size": len(data), "width": round(width * scale)}
        size["height"] = round(height * scale)
        sizes.append(size)
    state.photos.update({size["file_id"]: sizes for size in sizes})
    return sizes


@api_method("sendPhoto")
async def send_photo(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    params = call.params
    chat = target_chat(emu, params)
    upload = _upload(call, "photo")
    caption, entities = _caption(params)
    markup = inline_keyboard(parse_reply_markup(params.get("reply_markup")))

    if isinstance(upload, str):
        sizes = emu.state.photos.get(upload)
        if sizes is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
    else:
        _check_size(upload, MAX_PHOTO_BYTES)
        sizes = photo_sizes(emu.state, upload.data)
    return deliver(
        emu,
        call,
        chat,
        photo=sizes,
        caption=caption or None,
        caption_entities=entities or None,
        reply_markup=markup,
        has_media_spoiler=params.get("has_spoiler") or None,
    )


@api_method("sendDocument")
async def send_document(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    params = call.params
    chat = target_chat(emu, params)
    upload = _upload(call, "document")
    caption, entities = _caption(params)
    markup = inline_keyboard(parse_reply_markup(params.get("reply_markup")))

    if isinstance(upload, str):
        stored = emu.state.files.get(upload)
        document = emu.state.documents.get(stored.file_id) or _document(stored, "file", None)
    else:
        _check_size(upload, MAX_DOCUMENT_BYTES)
        suffix = PurePosixPath(upload.filename).suffix
        stored = emu.state.files.add(upload.data, "documents", suffix)
        document = _document(stored, upload.filename, upload.content_type)
        emu.state.documents[stored.file_id] = document
    return deliver(
        emu,
        call,
        chat,
        document=document,
        caption=caption or None,
        caption_entities=entities or None,
        reply_markup=markup,
    )


def _document(stored: StoredFile, filename: str, content_type: str | None) -> dict[str, Any]:
    guessed = mimetypes.guess_type(filename)[0]
    if content_type in (None, "application/octet-stream") and guessed:
        content_type = guessed
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_name": filename,
        "mime_type": content_type or "application/octet-stream",
        "file_size": len(stored.data),
    }


def _caption(params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    caption = params.get("caption")
    if not caption:
        return "", []
    plain, entities = parse_formatted(
        caption, params.get("parse_mode"), params.get("caption_entities")
    )
    check_caption(plain)
    return plain, entities


def _check_size(upload: UploadedFile, limit: int) -> None:
    if not upload.data:
        raise bad_request("file must be non-empty")
    if len(upload.data) > limit:
        raise bad_request("file is too big")


@api_method("getFile")
async def get_file(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    file_id = call.params.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise bad_request("file_id is empty")
    return emu.state.files.get(file_id).to_api()
