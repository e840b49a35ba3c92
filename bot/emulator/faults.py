"""Faults injected from Python: error responses, flood waits, dropped and lost responses."""

from dataclasses import dataclass
from enum import StrEnum

from bot.emulator.errors import APIError, bad_request, forbidden, migrated, too_many_requests


class FaultKind(StrEnum):
    BLOCKED = "blocked"
    USER_DEACTIVATED = "user_deactivated"
    BAD_REQUEST = "bad_request"
    TOO_LONG = "too_long"
    MIGRATE = "migrate"
    FLOOD = "flood"
    SERVER_ERROR = "server_error"
    # Abort the TCP connection before the method runs.
    DROP = "drop"
    # Run the method and record the result, then abort the connection without a response.
    LOST_RESPONSE = "lost_response"
    # Sleep `delay` seconds, then handle the request normally.
    DELAY = "delay"


SERVER_ERROR_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class FaultRule:
    """One injected fault: it lets `skip` matching requests pass, then fires `count` times."""

    kind: FaultKind
    method: str | None = "sendMessage"
    chat_id: int | str | None = None
    count: int | None = 1
    skip: int = 0
    retry_after: int = 3
    status: int = 502
    description: str = "Bad Request: injected fault"
    migrate_to_chat_id: int | None = None
    delay: float = 1.0
    hits: int = 0
    seen: int = 0

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or str(self.chat_id) == str(chat_id)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def error(self, chat_id: int | str | None) -> APIError | None:
        """Return the error response of this fault, or None for connection-level kinds."""
        match self.kind:
            case FaultKind.BLOCKED:
                return forbidden("bot was blocked by the user")
            case FaultKind.USER_DEACTIVATED:
                return forbidden("user is deactivated")
            case FaultKind.BAD_REQUEST:
                return APIError(400, self.description)
            case FaultKind.TOO_LONG:
                return bad_request("message is too long")
            case FaultKind.MIGRATE:
                return migrated(self.migrate_to_chat_id or supergroup_id(chat_id))
            case FaultKind.FLOOD:
                return too_many_requests(self.retry_after)
            case FaultKind.SERVER_ERROR:
                return APIError(self.status, SERVER_ERROR_TEXT.get(self.status, "Server Error"))
        return None


def supergroup_id(chat_id: int | str | None) -> int:
    """Return the id a basic group gets as a supergroup: -100 followed by its digits."""
    digits = str(chat_id).lstrip("-")
    return int(f"-100{digits}") if digits.isdigit() else -1001000000000


class FaultPlan:
    """The injected faults, checked in the order they were added."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(
        self,
        kind: FaultKind | str,
        method: str | None = "sendMessage",
        *,
        chat_id: int | str | None = None,
        count: int | None = 1,
        skip: int = 0,
        retry_after: int = 3,
        status: int = 502,
        description: str = "Bad Request: injected fault",
        migrate_to_chat_id: int | None = None,
        delay: float = 1.0,
    ) -> FaultRule:
        """Add a fault for `method` (None means every method), optionally for one chat only.

        `count=None` keeps the fault firing until `clear()`.
        """
        rule = FaultRule(
            kind=FaultKind(kind),
            method=method,
            chat_id=chat_id,
            count=count,
            skip=skip,
            retry_after=retry_after,
            status=status,
            description=description,
            migrate_to_chat_id=migrate_to_chat_id,
            delay=delay,
        )
        self.rules.append(rule)
        return rule

    def take(self, method: str, chat_id: int | str | None) -> FaultRule | None:
        """Return the fault that fires for this request and count it, or None."""
        for rule in self.rules:
            if rule.exhausted or not rule.matches(method, chat_id):
                continue
            rule.seen += 1
            if rule.seen <= rule.skip:
                continue
            rule.hits += 1
            return rule
        return None

    def clear(self) -> None:
        self.rules.clear()
