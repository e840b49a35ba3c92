"""Chats and the bot itself: getMe, getChat, members, pins, chat actions, commands, callbacks."""

import json
import re
from typing import TYPE_CHECKING, Any

from bot.emulator.errors import bad_request
from bot.emulator.methods import MethodCall, api_method
from bot.emulator.state import ChatState

if TYPE_CHECKING:
    from bot.emulator.server import BotAPIEmulator

CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}$")
# Bot API: answerCallbackQuery text is at most 200 characters.
MAX_CALLBACK_ANSWER = 200
ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_send_welcome_messages": False,
    "can_pin_messages": True,
    "can_manage_topics": False,
}
RESTRICTED_RIGHTS = {
    "is_member": True,
    "can_send_messages": False,
    "can_send_audios": False,
    "can_send_documents": False,
    "can_send_photos": False,
    "can_send_videos": False,
    "can_send_video_notes": False,
    "can_send_voice_notes": False,
    "can_send_polls": False,
    "can_send_other_messages": False,
    "can_add_web_page_previews": False,
    "can_react_to_messages": False,
    "can_edit_tag": False,
    "can_change_info": False,
    "can_invite_users": False,
    "can_pin_messages": False,
    "can_manage_topics": False,
    "until_date": 0,
}
STATUS_DEFAULTS: dict[str, dict[str, Any]] = {
    "creator": {"is_anonymous": False},
    "administrator": ADMIN_RIGHTS,
    "member": {},
    "restricted": RESTRICTED_RIGHTS,
    "left": {},
    "kicked": {"until_date": 0},
}


def member_payload(status: str, user: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Build a ChatMember object with every field the Bot API marks as required for `status`."""
    if status not in STATUS_DEFAULTS:
        raise ValueError(
            f"Unknown chat member status {status!r}: use one of {list(STATUS_DEFAULTS)}"
        )
    return {"status": status, "user": user} | STATUS_DEFAULTS[status] | fields


def _member(emu: "BotAPIEmulator", call: MethodCall, chat: ChatState, user_id: Any) -> dict:
    bot = call.bot
    user = bot if user_id == bot.id else emu.state.users.get(user_id)
    if user is None:
        raise bad_request("user not found")
    if chat.chat.type == "private":
        if user_id not in (chat.chat.id, bot.id):
            raise bad_request("user not found")
        return member_payload("member", user.to_api(), {})
    # Unless set otherwise, the bot administers every group and other users are not members.
    default = {"status": "administrator" if user_id == bot.id else "left"}
    entry = dict(chat.members.get(user_id) or default)
    return member_payload(entry.pop("status"), user.to_api(), entry)


@api_method("getMe")
async def get_me(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    return call.bot.to_api() | {
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@api_method("getChat")
async def get_chat(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    chat = emu.state.chat(call.params.get("chat_id"))
    info = chat.chat.to_api() | {"accent_color_id": 0, "max_reaction_count": 11}
    info["accepted_gift_types"] = {
        "unlimited_gifts": False,
        "limited_gifts": False,
        "unique_gifts": False,
        "premium_subscription": False,
        "gifts_from_channels": False,
    }
    if chat.pinned and chat.pinned[-1] in chat.messages:
        info["pinned_message"] = chat.messages[chat.pinned[-1]]
    return info


@api_method("getChatMember")
async def get_chat_member(emu: "BotAPIEmulator", call: MethodCall) -> dict:
    chat = emu.state.chat(call.params.get("chat_id"))
    return _member(emu, call, chat, call.params.get("user_id"))


@api_method("getChatAdministrators")
async def get_chat_administrators(emu: "BotAPIEmulator", call: MethodCall) -> list:
    chat = emu.state.chat(call.params.get("chat_id"))
    if chat.chat.type == "private":
        raise bad_request("there are no administrators in the private chat")
    user_ids = [call.bot.id, *chat.members]
    members = [_member(emu, call, chat, user_id) for user_id in dict.fromkeys(user_ids)]
    return [member for member in members if member["status"] in ("creator", "administrator")]


@api_method("pinChatMessage")
async def pin_chat_message(emu: "BotAPIEmulator", call: MethodCall) -> bool:
    chat = emu.state.chat(call.params.get("chat_id"))
    message_id = call.params.get("message_id")
    emu.state.message(chat, message_id, "pin")
    if message_id in chat.pinned:
        chat.pinned.remove(message_id)
    chat.pinned.append(message_id)
    return True


@api_method("unpinChatMessage")
async def unpin_chat_message(emu: "BotAPIEmulator", call: MethodCall) -> bool:
    chat = emu.state.chat(call.params.get("chat_id"))
    message_id = call.params.get("message_id")
    if message_id is None and chat.pinned:
        message_id = chat.pinned[-1]
    if message_id not in chat.pinned:
        raise bad_request("message to unpin not found")
    chat.pinned.remove(message_id)
    return True


@api_method("sendChatAction")
async def send_chat_action(emu: "BotAPIEmulator", call: MethodCall) -> bool:
    chat = emu.state.chat(call.params.get("chat_id"))
    action = call.params.get("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat.actions.append(action)
    return True


def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    if isinstance(scope, str) or not isinstance(scope, dict) or "type" not in scope:
        raise bad_request("can't parse BotCommandScope JSON object")
    return json.dumps(scope, sort_keys=True), params.get("language_code") or ""


@api_method("setMyCommands")
async def set_my_commands(emu: "BotAPIEmulator", call: MethodCall) -> bool:
    commands = call.params.get("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON object")
    for command in commands:
        name = command.get("command", "") if isinstance(command, dict) else ""
        description = command.get("description", "") if isinstance(command, dict) else ""
        if not COMMAND_RE.match(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description.strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    emu.state.commands[_commands_key(call.params)] = [
        {"command": command["command"], "description": command["description"]}
        for command in commands
    ]
    return True


@api_method("getMyCommands")
async def get_my_commands(emu: "BotAPIEmulator", call: MethodCall) -> list:
    return emu.state.commands.get(_commands_key(call.params), [])


@api_method("deleteMyCommands")
async def delete_my_commands(emu: "BotAPIEmulator", call: MethodCall) -> bool:
    emu.state.commands.pop(_commands_key(call.params), None)
    return True


@api_method("answerCallbackQuery")
async def answer_callback_query(emu: "BotAPIEmulator", call: MethodCall) -> bool:
    query = emu.state.callback_queries.get(call.params.get("callback_query_id"))
    if query is None or "answer" in query:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = call.params.get("text") or ""
    if len(text) > MAX_CALLBACK_ANSWER:
        raise bad_request("MESSAGE_TOO_LONG")
    query["answer"] = {
        name: call.params[name] for name in ("text", "show_alert", "url") if name in call.params
    }
    return True
