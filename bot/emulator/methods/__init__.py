"""Bot API method handlers, registered by name and matched case-insensitively, as Telegram does."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.emulator.params import UploadedFile
from bot.emulator.state import User

if TYPE_CHECKING:
    from bot.emulator.server import BotAPIEmulator


@dataclass
class MethodCall:
    """One method invocation: decoded parameters, uploaded files and the bot that called."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    bot: User


@dataclass(frozen=True)
class Described:
    """A result that Telegram returns together with a "description", as setWebhook does."""

    result: Any
    description: str


Handler = Callable[["BotAPIEmulator", MethodCall], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}
# Methods that send or edit a message: they pass the rate limiter and count in the stats.
SENDING_METHODS = {
    "sendmessage",
    "sendphoto",
    "senddocument",
    "sendlocation",
    "sendvenue",
    "editmessagetext",
    "editmessagereplymarkup",
    "editmessagecaption",
}


def api_method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[name.lower()] = handler
        return handler

    return register


# Importing the handler modules registers their methods in HANDLERS.
from bot.emulator.methods import chats, media, messages, updates  # noqa: E402, F401
