"""Bot API error responses, raised inside method handlers and sent in Telegram's JSON shape."""

from typing import Any


class APIError(Exception):
    """An error response: HTTP status, Telegram's description and optional response parameters."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str, parameters: dict[str, Any] | None = None) -> APIError:
    return APIError(400, f"Bad Request: {reason}", parameters)


def forbidden(reason: str) -> APIError:
    return APIError(403, f"Forbidden: {reason}")


def too_many_requests(retry_after: int) -> APIError:
    return APIError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def migrated(new_chat_id: int) -> APIError:
    return bad_request(
        "group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": new_chat_id}
    )


NOT_FOUND = APIError(404, "Not Found")
UNAUTHORIZED = APIError(401, "Unauthorized")
