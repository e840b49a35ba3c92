"""Simulated Telegram users: create users and groups, send messages, press buttons, fail chats."""

import io
import re
import secrets
from typing import Any

from PIL import Image

from bot.emulator.faults import supergroup_id
from bot.emulator.methods.media import photo_sizes
from bot.emulator.state import Chat, ChatState, EmulatorState, User
from bot.emulator.text import utf16_len
from bot.emulator.update_queue import UpdateQueue

# Telegram clients pass a /start payload only if it is 1-64 characters of A-Za-z0-9_-.
START_PAYLOAD_RE = re.compile(r"[A-Za-z0-9_-]{1,64}$")
COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{1,32})?(?=\s|$)")


class Simulation:
    """The user side of the emulator, mixed into BotAPIEmulator."""

    state: EmulatorState
    updates: UpdateQueue
    bot_username: str

    def user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> User:
        """Register a user and their private chat with the bot, and return the user."""
        user = User(user_id, first_name, last_name, username, language_code)
        self.state.users[user_id] = user
        chat = Chat(user_id, "private", None, username, first_name, last_name)
        self.state.add_chat(chat)
        return user

    def group(
        self, chat_id: int, title: str, type: str = "supergroup", *, username: str | None = None
    ) -> Chat:
        """Register a group, supergroup or channel where the bot is an administrator by default."""
        if type not in ("group", "supergroup", "channel"):
            raise ValueError(f"Invalid chat type {type!r}: use group, supergroup or channel")
        chat = Chat(chat_id, type, title, username)
        self.state.add_chat(chat)
        return chat

    def set_member(self, chat: Chat | int, user: User | int, status: str, **fields: Any) -> None:
        """Set the getChatMember result for `user` in `chat`, with `fields` overriding rights."""
        state = self._chat_state(chat)
        user_id = user.id if isinstance(user, User) else user
        if isinstance(user, User):
            self.state.users.setdefault(user.id, user)
        state.members[user_id] = {"status": status} | fields

    def send_text(
        self,
        user: User,
        text: str,
        *,
        chat: Chat | int | None = None,
        sender_chat: Chat | None = None,
        is_automatic_forward: bool = False,
    ) -> int:
        """Queue a text message from `user` (in their private chat unless `chat` is given)."""
        state = self._chat_state(chat if chat is not None else user.id)
        if state.chat.type != "private" and user.id not in state.members:
            state.members[user.id] = {"status": "member"}
        message = state.add_message(
            user.to_api(),
            text=text,
            entities=_command_entities(text) or None,
            sender_chat=sender_chat.to_api() if sender_chat else None,
            is_automatic_forward=is_automatic_forward or None,
        )
        return self.updates.put({"message": message})

    def send_start(self, user: User, payload: str | None = None) -> int:
        """Queue "/start" with a deep-link payload, as a Telegram client sends it."""
        if payload is None or payload == "":
            return self.send_text(user, "/start")
        if not START_PAYLOAD_RE.match(payload):
            raise ValueError(
                f"Invalid start payload {payload!r}: Telegram clients pass only 1-64 "
                "characters of A-Za-z0-9_-"
            )
        return self.send_text(user, f"/start {payload}")

    def send_photo(
        self,
        user: User,
        *,
        chat: Chat | int | None = None,
        caption: str | None = None,
        file_unique_id: str | None = None,
        data: bytes | None = None,
    ) -> int:
        """Queue a photo from `user`; `data` defaults to a small generated PNG."""
        state = self._chat_state(chat if chat is not None else user.id)
        sizes = photo_sizes(self.state, data or _sample_png(), file_unique_id)
        message = state.add_message(user.to_api(), photo=sizes, caption=caption)
        return self.updates.put({"message": message})

    def press_button(self, user: User, message: dict[str, Any], data: str) -> int:
        """Queue the callback_query a press on a button with `data` under `message` sends.

        The data is not checked against the keyboard, because a modified client can send any.
        """
        query_id = str(secrets.randbits(63))
        self.state.callback_queries[query_id] = {"user_id": user.id, "data": data}
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": message,
            "chat_instance": str(abs(message["chat"]["id"])),
            "data": data,
        }
        return self.updates.put({"callback_query": query})

    def inject_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update; a missing update_id is assigned."""
        return self.updates.put(update)

    def block_chat(self, chat_id: int, blocked: bool = True) -> None:
        """Make every later send to `chat_id` fail with 403: "bot was blocked by the user" in a
        private chat, "bot was kicked from the ... chat" in a group."""
        self._chat_state(chat_id).blocked = blocked

    def migrate_group(self, old_id: int) -> int:
        """Upgrade a basic group to a supergroup, queue the service messages, return the new id.

        Later sends to `old_id` fail with 400 and parameters.migrate_to_chat_id.
        """
        old = self._chat_state(old_id)
        if old.chat.type != "group":
            raise ValueError(f"Chat {old_id} is a {old.chat.type}: only a basic group can migrate")
        new_id = supergroup_id(old_id)
        new = self.state.add_chat(Chat(new_id, "supergroup", old.chat.title, old.chat.username))
        new.members.update(old.members)
        sender = next(iter(self.state.users.values()), None)
        sender_api = sender.to_api() if sender else None
        self.updates.put({"message": old.add_message(sender_api, migrate_to_chat_id=new_id)})
        self.updates.put({"message": new.add_message(sender_api, migrate_from_chat_id=old_id)})
        old.migrated_to = new_id
        return new_id

    def _chat_state(self, chat: Chat | int) -> ChatState:
        chat_id = chat.id if isinstance(chat, Chat) else chat
        if chat_id not in self.state.chats:
            raise KeyError(f"Unknown chat {chat_id}: register it with user() or group() first")
        return self.state.chats[chat_id]


def _command_entities(text: str) -> list[dict[str, Any]]:
    match = COMMAND_RE.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


def _sample_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()
