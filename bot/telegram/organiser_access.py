"""Who may use the organiser console: members of the organiser group and its anonymous admins.

Telegram only delivers a group message from a user who is in the group, so a message in the
organiser group is from an organiser. A message sent on behalf of a chat carries `sender_chat`:
an anonymous admin (user 1087968824, sender_chat = the group itself) acts as the group, while
automatic forwards from a linked channel (user 777000) and anyone posting as another channel
are ignored. A button press can come from any user who has the message, so it is re-checked with
getChatMember every time.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Filter
from aiogram.types import Message, User

from bot.services import organisers
from bot.telegram.context import BotContext

logger = logging.getLogger(__name__)

# The user Telegram shows as the sender of an anonymous group admin's messages.
GROUP_ANONYMOUS_BOT_ID = 1087968824
# The user Telegram shows as the sender of automatic forwards from a linked channel.
TELEGRAM_SERVICE_ID = 777000
GROUP_TYPES = ("group", "supergroup")
MEMBER_STATUSES = (
    ChatMemberStatus.CREATOR,
    ChatMemberStatus.ADMINISTRATOR,
    ChatMemberStatus.MEMBER,
)


class Origin(enum.Enum):
    ORGANISER = "organiser"  # a member or an anonymous admin of the organiser group
    OUTSIDER = "outsider"  # a user in a private chat or another group
    IGNORED = "ignored"  # a channel post, an automatic forward or a post as another chat


@dataclass(frozen=True)
class Actor:
    """An organiser acting in the console, as the audit log and announcements record them."""

    user_id: int | None
    name: str
    chat_id: int
    anonymous: bool = False

    @property
    def label(self) -> str:
        if self.user_id is None:
            return self.name
        return f"{self.name} (id {self.user_id})"


def sender_origin(message: Message, organiser_chat_ids: Collection[int]) -> Origin:
    """Classify the sender of a message by chat and sender, without any network call.

    `organiser_chat_ids` are the organiser group's current id and its ids before migrations.
    """
    if message.forward_origin is not None:
        # A forward quotes someone else, such as a public channel's "/newevent ...", so it is
        # never an organiser's own command, even when an organiser forwards it.
        return Origin.IGNORED
    if message.is_automatic_forward or message.sender_chat is not None:
        if _is_anonymous_admin(message, organiser_chat_ids):
            return Origin.ORGANISER
        return Origin.IGNORED
    user = message.from_user
    if user is None or user.id == TELEGRAM_SERVICE_ID or user.id == GROUP_ANONYMOUS_BOT_ID:
        return Origin.IGNORED
    if user.is_bot:
        return Origin.IGNORED
    if message.chat.type in GROUP_TYPES and message.chat.id in organiser_chat_ids:
        return Origin.ORGANISER
    return Origin.OUTSIDER


def actor_of(message: Message) -> Actor:
    if message.sender_chat is not None:
        title = message.sender_chat.title or str(message.sender_chat.id)
        return Actor(None, f"Anonymous admin of {title}", message.chat.id, anonymous=True)
    assert message.from_user is not None
    return Actor(message.from_user.id, message.from_user.full_name, message.chat.id)


class OrganiserGroup(Filter):
    """Pass messages from organisers in the organiser group, adding `actor` to the handler data."""

    async def __call__(self, message: Message, ctx: BotContext) -> bool | dict[str, Any]:
        # Private chats never need the database lookup below.
        if message.chat.type not in GROUP_TYPES:
            return False
        organiser_chat_ids = await organisers.chat_ids(ctx.db, ctx.settings.organiser_chat_id)
        if sender_origin(message, organiser_chat_ids) is not Origin.ORGANISER:
            return False
        return {"actor": actor_of(message)}


async def is_organiser(bot: Bot, ctx: BotContext, user: User) -> bool:
    """Check with getChatMember that `user` is in the organiser group right now."""
    organiser_chat_id = await organisers.chat_id(ctx.db, ctx.settings.organiser_chat_id)
    if not organiser_chat_id or user.is_bot:
        return False
    try:
        member = await bot.get_chat_member(organiser_chat_id, user.id)
    except TelegramAPIError as error:
        logger.warning(
            "Organiser membership check failed: user_id=%s chat_id=%s error=%s",
            user.id,
            organiser_chat_id,
            error,
        )
        return False
    if member.status in MEMBER_STATUSES:
        return True
    return member.status == ChatMemberStatus.RESTRICTED and bool(
        getattr(member, "is_member", False)
    )


def _is_anonymous_admin(message: Message, organiser_chat_ids: Collection[int]) -> bool:
    return (
        not message.is_automatic_forward
        and message.from_user is not None
        and message.from_user.id == GROUP_ANONYMOUS_BOT_ID
        and message.sender_chat is not None
        and message.sender_chat.id == message.chat.id
        and message.chat.id in organiser_chat_ids
    )
