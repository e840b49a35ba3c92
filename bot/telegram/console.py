"""The organiser console's shared parts: command names, replies, argument parsing and auditing."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, TelegramObject

from bot.errors import ForbiddenError, InputError, MicropopError, NotFoundError
from bot.services import events, organisers
from bot.services.views import EventView
from bot.telegram import organiser_texts as texts
from bot.telegram.context import BotContext
from bot.telegram.organiser_access import Actor
from bot.telegram.organiser_chat import send_to_organisers
from bot.textsplit import split_text

logger = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Every console command. The same commands elsewhere are rejected with a short reply.
ORGANISER_COMMANDS = (
    "event",
    "newevent",
    "venue",
    "location",
    "tz",
    "when",
    "poi",
    "pois",
    "unpoi",
    "map",
    "drop",
    "editdrop",
    "listdrops",
    "canceldrop",
    "announce",
    "schedule",
    "queue",
    "cancel",
    "stats",
    "export",
    "audit",
    "hardware",
    "reprint",
    "poster",
)
# Commands the console handles in the organiser group, /help included, for suggestions.
CONSOLE_COMMANDS = (*ORGANISER_COMMANDS, "help")
# Attendees use these in their private chat, so there they are not organiser commands.
ATTENDEE_COMMANDS = ("map",)
RESULTS = {InputError: "invalid", NotFoundError: "not_found", ForbiddenError: "forbidden"}


@dataclass
class AuditNote:
    """The audit log entry of one console action, which handlers may refine."""

    action: str
    detail: str
    result: str = "ok"


async def reply(bot: Bot, ctx: BotContext, text: str, **kwargs: Any) -> Message | None:
    """Send a console reply (HTML) to the organiser group, split if it is too long.

    Returns the last message sent, which carries `kwargs` such as a keyboard.
    """
    parts = split_text(text, html=True) or [text]
    message = None
    for index, part in enumerate(parts):
        extra = kwargs if index == len(parts) - 1 else {}
        message = await send_to_organisers(bot, ctx.db, ctx.settings, part, **extra)
    return message


def console_command(*names: str) -> Command:
    """Match console commands in any letter case, so /Announce runs /announce."""
    return Command(*names, ignore_case=True)


def closest_command(name: str) -> str | None:
    """Return the console command closest to a mistyped `name`, or None if none is close."""
    matches = difflib.get_close_matches(name.casefold(), CONSOLE_COMMANDS, n=1, cutoff=0.6)
    return matches[0] if matches else None


def action_of(message: Message, command: CommandObject | None) -> str:
    if command is not None:
        return command.command.lower()
    if message.venue is not None:
        return "venue-shared"
    if message.location is not None:
        return "location-shared"
    return "message"


class AuditMiddleware(BaseMiddleware):
    """Record every console action in the audit log and reply with errors the services raise.

    An error a service raises on purpose (bad input, unknown id) is shown to the organisers and
    ends the update normally. Any other exception is recorded as failed and raised again.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Message)
        actor: Actor = data["actor"]
        ctx: BotContext = data["ctx"]
        note = AuditNote(
            action=action_of(event, data.get("command")),
            detail=event.text or event.caption or "",
        )
        data["audit"] = note
        try:
            result = await handler(event, data)
        except MicropopError as error:
            note.result = RESULTS.get(type(error), "error")
            note.detail = f"{note.detail}\n-> {error}"
            logger.info(
                "Organiser command rejected: action=%s chat_id=%s error=%s",
                note.action,
                actor.chat_id,
                error,
            )
            await _record(ctx, actor, note)
            await reply(data["bot"], ctx, texts.error(str(error)))
            return None
        except Exception:
            note.result = "failed"
            await _record(ctx, actor, note)
            raise
        await _record(ctx, actor, note)
        return result


async def _record(ctx: BotContext, actor: Actor, note: AuditNote) -> None:
    await organisers.record(
        ctx.db, actor.user_id, actor.name, actor.chat_id, note.action, note.detail, note.result
    )


def require_args(command: CommandObject, usage: str) -> str:
    """Return the command's arguments, or raise InputError showing `usage`."""
    args = (command.args or "").strip()
    if not args:
        raise InputError(f"Missing arguments: use {usage}")
    return args


def parse_id(value: str, what: str, listing: str) -> int:
    """Parse a row id typed by an organiser, e.g. `parse_id("7", "drop", "/listdrops")`."""
    text = value.strip().lstrip("#")
    if not text.isdigit() or len(text) > 12:
        raise InputError(f'Invalid {what} id "{value.strip()}": use a number shown by {listing}')
    return int(text)


def split_fields(args: str, usage: str, minimum: int, maximum: int) -> list[str]:
    """Split `A | B | C` arguments, checking their count against `usage`."""
    fields = [field.strip() for field in args.split("|")]
    if not minimum <= len(fields) <= maximum:
        raise InputError(f"Invalid arguments: got {len(fields)} parts separated by |, use {usage}")
    return fields


async def require_event(ctx: BotContext) -> EventView:
    """Return the active event, or raise NotFoundError saying how to create one."""
    event = await events.active_event(ctx.db)
    if event is None:
        raise NotFoundError("No event is set up yet: create one with /event TITLE")
    return event
