"""State of the emulated Telegram: users, chats, messages, members, files and bot commands."""

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.errors import bad_request


@dataclass(frozen=True)
class User:
    """A simulated Telegram user."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False

    def to_api(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot}
        payload["first_name"] = self.first_name
        for name in ("last_name", "username", "language_code"):
            if getattr(self, name) is not None:
                payload[name] = getattr(self, name)
        return payload


@dataclass(frozen=True)
class Chat:
    """A chat as the Bot API Chat object describes it."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    def to_api(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"id": self.id, "type": self.type}
        for name in ("title", "username", "first_name", "last_name"):
            if getattr(self, name) is not None:
                payload[name] = getattr(self, name)
        return payload


@dataclass
class ChatState:
    """One chat's mutable state. `messages` contains every message as it is now, by message_id."""

    chat: Chat
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    pinned: list[int] = field(default_factory=list)
    blocked: bool = False
    migrated_to: int | None = None
    actions: list[str] = field(default_factory=list)
    message_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add_message(self, sender: dict[str, Any] | None, **content: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": next(self.message_ids), "date": int(time.time())}
        message["chat"] = self.chat.to_api()
        if sender is not None:
            message["from"] = sender
        message.update({name: value for name, value in content.items() if value is not None})
        self.messages[message["message_id"]] = message
        return message


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes

    def to_api(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


class FileStore:
    """Uploaded and simulated files, addressable by file_id and by download path."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self._numbers = itertools.count(1)

    def add(
        self, data: bytes, folder: str, suffix: str, unique_id: str | None = None
    ) -> StoredFile:
        number = next(self._numbers)
        stored = StoredFile(
            file_id=f"{folder[:2].upper()}{secrets.token_urlsafe(24)}",
            file_unique_id=unique_id or f"AQAD{secrets.token_urlsafe(9)}",
            file_path=f"{folder}/file_{number}{suffix}",
            data=data,
        )
        self.by_id[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        try:
            return self.by_id[file_id]
        except KeyError:
            raise bad_request("invalid file_id") from None


class EmulatorState:
    """Users, chats, files, bot commands and open callback queries."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.chats: dict[int, ChatState] = {}
        self.files = FileStore()
        # Sent media by file_id, so that a later send by file_id returns the same objects.
        self.photos: dict[str, list[dict[str, Any]]] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}

    def add_chat(self, chat: Chat) -> ChatState:
        existing = self.chats.get(chat.id)
        if existing is not None and existing.chat == chat:
            return existing
        state = ChatState(chat)
        if existing is not None:
            state = ChatState(chat, existing.messages, existing.members, existing.pinned)
            state.message_ids = existing.message_ids
        self.chats[chat.id] = state
        return state

    def chat(self, chat_id: Any) -> ChatState:
        """Return the chat named by a chat_id parameter (an id or "@username")."""
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for state in self.chats.values():
                if state.chat.username and f"@{state.chat.username}" == chat_id:
                    return state
        elif isinstance(chat_id, int) and chat_id in self.chats:
            return self.chats[chat_id]
        raise bad_request("chat not found")

    def message(self, chat: ChatState, message_id: Any, action: str) -> dict[str, Any]:
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request(f"message to {action} not found")
        return message
