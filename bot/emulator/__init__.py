"""Local Telegram Bot API emulator: real bots over real HTTP, with Telegram's limits and faults."""

from bot.emulator.errors import APIError
from bot.emulator.faults import FaultKind, FaultRule
from bot.emulator.limits import RateLimits, SendStats
from bot.emulator.params import UploadedFile
from bot.emulator.records import Call
from bot.emulator.server import BotAPIEmulator
from bot.emulator.state import Chat, User

__all__ = [
    "APIError",
    "BotAPIEmulator",
    "Call",
    "Chat",
    "FaultKind",
    "FaultRule",
    "RateLimits",
    "SendStats",
    "UploadedFile",
    "User",
]
