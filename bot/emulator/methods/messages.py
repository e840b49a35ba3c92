"""Text messages: sendMessage, sendLocation, sendVenue, the three edits and deleteMessage."""

import time
from typing import TYPE_CHECKING, Any

from bot.emulator.errors import bad_request, forbidden, migrated
from bot.emulator.formatting import parse_formatted
from bot.emulator.markup import inline_keyboard, parse_reply_markup
from bot.emulator.methods import MethodCall, api_method
from bot.emulator.state import ChatState
from bot.emulator.text import check_caption, check_text

if TYPE_CHECKING:
    from bot.emulator.server import BotAPIEmulator

BLOCKED_REASONS = {
    "group": "bot was kicked from the group chat",
    "supergroup": "bot was kicked from the supergroup chat",
    "channel": "bot is not a member of the channel chat",
}
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)


def target_chat(emu: "BotAPIEmulator", params: dict[str, Any]) -> ChatState:
    """Return the chat a send goes to, raising the errors Telegram returns for unusable chats."""
    chat = emu.state.chat(params.get("chat_id"))
    if chat.migrated_to is not None:
        raise migrated(chat.migrated_to)
    if chat.blocked:
        raise forbidden(BLOCKED_REASONS.get(chat.chat.type, "bot was blocked by the user"))
    return chat


def deliver(emu: "BotAPIEmulator", call: MethodCall, chat: ChatState, **content: Any) -> dict:
    """Store a validated message from the bot once the rate limiter lets it through."""
    emu.flood.check(chat.chat.id, chat.chat.type)
    reply_to = _reply_target(chat, call.params)
    message = chat.add_message(call.bot.to_api(), reply_to_message=reply_to, **content)
    emu.flood.record(chat.chat.id, chat.chat.type, call.method)
    return message


def _reply_target(chat: ChatState, params: dict[str, Any]) -> dict[str, Any] | None:
    reply = params.get("reply_parameters")
    if isinstance(reply, str) or (reply is not None and not isinstance(reply, dict)):
        raise bad_request("can't parse reply parameters JSON object")
    reply = reply or {}
    message_id = reply.get("message_id", params.get("reply_to_message_id"))
    if message_id is None:
        return None
    original = chat.messages.get(message_id)
    if original is None:
        if reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
            return None
        raise bad_request("message to be replied not found")
    return {key: value for key, value in original.items() if key != "reply_to_message"}


@api_method("sendMessage")
async def send_message(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    params = call.params
    chat = target_chat(emu, params)
    text = params.get("text")
    if not isinstance(text, str) or not text:
        raise bad_request("message text is empty")
    plain, entities = parse_formatted(text, params.get("parse_mode"), params.get("entities"))
    check_text(plain)
    markup = parse_reply_markup(params.get("reply_markup"))

    return deliver(
        emu,
        call,
        chat,
        text=plain,
        entities=entities or None,
        reply_markup=inline_keyboard(markup),
        message_thread_id=params.get("message_thread_id"),
    )


@api_method("sendLocation")
async def send_location(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    chat = target_chat(emu, call.params)
    location = _location(call.params)
    markup = parse_reply_markup(call.params.get("reply_markup"))
    return deliver(emu, call, chat, location=location, reply_markup=inline_keyboard(markup))


@api_method("sendVenue")
async def send_venue(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    params = call.params
    chat = target_chat(emu, params)
    location = _location(params)
    for name in ("title", "address"):
        if not isinstance(params.get(name), str) or not params[name].strip():
            raise bad_request(f"venue {name} is empty")
    markup = parse_reply_markup(params.get("reply_markup"))

    venue = {"location": location, "title": params["title"], "address": params["address"]}
    for name in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
        if params.get(name):
            venue[name] = params[name]
    return deliver(
        emu, call, chat, location=location, venue=venue, reply_markup=inline_keyboard(markup)
    )


def _location(params: dict[str, Any]) -> dict[str, float]:
    latitude, longitude = params.get("latitude"), params.get("longitude")
    if not isinstance(latitude, int | float) or not -90 <= latitude <= 90:
        raise bad_request("wrong latitude specified")
    if not isinstance(longitude, int | float) or not -180 <= longitude <= 180:
        raise bad_request("wrong longitude specified")
    return {"latitude": float(latitude), "longitude": float(longitude)}


def _editable(emu: "BotAPIEmulator", call: MethodCall) -> tuple[ChatState, dict[str, Any]]:
    if call.params.get("inline_message_id"):
        # NOTE: inline messages are not emulated; the product sends no inline-mode messages.
        raise bad_request("inline message editing is not supported by the emulator")
    chat = target_chat(emu, call.params)
    message = emu.state.message(chat, call.params.get("message_id"), "edit")
    if message.get("from", {}).get("id") != call.bot.id:
        raise bad_request("message can't be edited")
    return chat, message


def _apply_edit(
    emu: "BotAPIEmulator", call: MethodCall, chat: ChatState, message: dict, **content: Any
) -> dict:
    changed = {name: value for name, value in content.items() if message.get(name) != value}
    if not changed:
        raise bad_request(NOT_MODIFIED)
    emu.flood.check(chat.chat.id, chat.chat.type)

    for name, value in changed.items():
        if value is None:
            message.pop(name, None)
        else:
            message[name] = value
    message["edit_date"] = int(time.time())
    emu.flood.record(chat.chat.id, chat.chat.type, call.method)
    return message


@api_method("editMessageText")
async def edit_message_text(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    params = call.params
    chat, message = _editable(emu, call)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    text = params.get("text")
    if not isinstance(text, str) or not text:
        raise bad_request("message text is empty")
    plain, entities = parse_formatted(text, params.get("parse_mode"), params.get("entities"))
    check_text(plain)
    markup = inline_keyboard(parse_reply_markup(params.get("reply_markup")))

    return _apply_edit(
        emu, call, chat, message, text=plain, entities=entities or None, reply_markup=markup
    )


@api_method("editMessageCaption")
async def edit_message_caption(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    params = call.params
    chat, message = _editable(emu, call)
    if "text" in message or not ("photo" in message or "document" in message):
        raise bad_request("there is no caption in the message to edit")
    caption, entities = parse_formatted(
        params.get("caption") or "", params.get("parse_mode"), params.get("caption_entities")
    )
    check_caption(caption)
    markup = inline_keyboard(parse_reply_markup(params.get("reply_markup")))

    return _apply_edit(
        emu,
        call,
        chat,
        message,
        caption=caption or None,
        caption_entities=entities or None,
        reply_markup=markup,
    )


@api_method("editMessageReplyMarkup")
async def edit_message_reply_markup(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    chat, message = _editable(emu, call)
    markup = inline_keyboard(parse_reply_markup(call.params.get("reply_markup")))
    return _apply_edit(emu, call, chat, message, reply_markup=markup)


@api_method("deleteMessage")
async def delete_message(emu: "BotAPIEmulator", call: MethodCall) -> bool:
    chat = emu.state.chat(call.params.get("chat_id"))
    emu.state.message(chat, call.params.get("message_id"), "delete")
    del chat.messages[call.params["message_id"]]
    if call.params["message_id"] in chat.pinned:
        chat.pinned.remove(call.params["message_id"])
    return True
