"""Telegram's sending limits: sliding-window enforcement with flood waits, and observed rates."""

import math
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

from bot.emulator.errors import too_many_requests


@dataclass(frozen=True)
class RateLimits:
    """Sending limits enforced per scope; the defaults are Telegram's documented broadcast limits.

    A private chat accepts `private_burst` messages in any window of `private_burst /
    private_per_s` seconds, so a burst of 1 means strictly one message per second. A group or
    supergroup accepts `group_per_min` messages in any 60-second window, and all chats together
    accept `global_per_s` messages in any 1-second window. With `enforce=False` nothing is
    rejected, but the rates are still recorded.
    """

    global_per_s: float = 30
    private_per_s: float = 1
    group_per_min: float = 20
    private_burst: int = 1
    enforce: bool = True


@dataclass(frozen=True)
class AcceptedSend:
    at: float
    chat_id: int
    chat_type: str
    method: str


@dataclass
class SendStats:
    """Accepted sends and 429 responses, so that tests can assert that no limit was exceeded."""

    # Every 429 response, from the limiter or from an injected flood fault.
    http_429: int = 0
    accepted: list[AcceptedSend] = field(default_factory=list)
    # The limit behind each 429 from the limits themselves: "global", "private" or "group".
    rejected_by: Counter[str] = field(default_factory=Counter)

    def sends_per_second(self, chat_id: int | None = None) -> list[int]:
        """Count accepted sends per whole second since the first one, overall or for one chat."""
        times = self._times(chat_id)
        if not times:
            return []
        counts = [0] * (int(times[-1] - times[0]) + 1)
        for at in times:
            counts[int(at - times[0])] += 1
        return counts

    def max_rate(self, chat_id: int | None = None, window: float = 1.0) -> int:
        """Return the maximum number of accepted sends inside any `window` seconds."""
        return max_in_window(self._times(chat_id), window)

    def max_chat_rate(self, window: float = 1.0, chat_type: str | None = None) -> int:
        """Return the maximum of `max_rate` over all chats, optionally of one chat type."""
        chats = {
            send.chat_id
            for send in self.accepted
            if chat_type is None or send.chat_type == chat_type
        }
        return max((self.max_rate(chat_id, window) for chat_id in chats), default=0)

    def _times(self, chat_id: int | None) -> list[float]:
        return [send.at for send in self.accepted if chat_id is None or send.chat_id == chat_id]


def max_in_window(times: list[float], window: float) -> int:
    """Return the largest number of `times` inside any `window` seconds, in any order."""
    ordered = sorted(times)
    best = 0
    first = 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


class FloodControl:
    """Enforce RateLimits per scope and keep a scope in flood wait until its retry_after passes."""

    def __init__(self, limits: RateLimits | None, stats: SendStats):
        self.limits = limits
        self.stats = stats
        self._recent: dict[object, deque[float]] = defaultdict(deque)
        self._blocked_until: dict[object, float] = {}

    def reset(self) -> None:
        self._recent.clear()
        self._blocked_until.clear()

    def check(self, chat_id: int, chat_type: str) -> None:
        """Raise APIError 429 if a send to `chat_id` now would exceed a limit."""
        limits = self.limits
        if limits is None or not limits.enforce:
            return
        now = time.monotonic()
        for scope, capacity, window in self._scopes(limits, chat_id, chat_type):
            # A scope in flood wait stays blocked until its retry_after passes, and requests
            # during the wait do not extend it.
            blocked_for = self._blocked_until.get(scope, 0.0) - now
            if blocked_for > 0:
                self.stats.rejected_by[self._scope_name(scope, chat_type)] += 1
                raise too_many_requests(max(1, math.ceil(blocked_for)))
            wait = self._wait_for_room(scope, capacity, window, now)
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                self._blocked_until[scope] = now + retry_after
                self.stats.rejected_by[self._scope_name(scope, chat_type)] += 1
                raise too_many_requests(retry_after)

    def record(self, chat_id: int, chat_type: str, method: str) -> None:
        now = time.monotonic()
        self.stats.accepted.append(AcceptedSend(now, chat_id, chat_type, method))
        # Recent sends are kept even without limits, so that set_limits() applies at once.
        limits = self.limits or RateLimits()
        for scope, _capacity, window in self._scopes(limits, chat_id, chat_type):
            recent = self._recent[scope]
            recent.append(now)
            while now - recent[0] >= max(window, 60.0):
                recent.popleft()

    def _wait_for_room(self, scope: object, capacity: float, window: float, now: float) -> float:
        recent = self._recent[scope]
        while recent and now - recent[0] >= window:
            recent.popleft()
        capacity = max(1, int(capacity))
        if len(recent) < capacity:
            return 0.0
        # The send fits once the oldest sends that fill the window have left it.
        return recent[len(recent) - capacity] + window - now

    @staticmethod
    def _scope_name(scope: object, chat_type: str) -> str:
        if scope == "global":
            return "global"
        return "private" if chat_type == "private" else "group"

    @staticmethod
    def _scopes(
        limits: RateLimits, chat_id: int, chat_type: str
    ) -> list[tuple[object, float, float]]:
        if chat_type == "private":
            per_chat = (chat_id, limits.private_burst, limits.private_burst / limits.private_per_s)
        else:
            per_chat = (chat_id, limits.group_per_min, 60.0)
        return [("global", limits.global_per_s, 1.0), per_chat]
