"""HTTP client of the bot's hardware feed: long-poll events, ack, report status and prints."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from hardware.errors import FeedError

logger = logging.getLogger(__name__)

# Extra seconds allowed beyond the long-poll timeout before a feed request counts as lost.
REQUEST_SLACK_S = 10.0
# Timeout of the short requests: ack, status and printed reports.
REPORT_TIMEOUT_S = 10.0


def report_time(seconds: float | None) -> str | None:
    """Format Unix seconds as the ISO 8601 UTC string that status reports carry."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat()


@dataclass(frozen=True)
class FeedEvent:
    id: int
    kind: str
    payload: dict[str, Any]


class FeedClient:
    """Talks to /hardware/* of the bot service with this venue's bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, after: int, timeout: float) -> list[FeedEvent]:
        """Return events after the cursor, waiting up to `timeout` seconds for one to come."""
        body = await self._request(
            "GET",
            "/hardware/feed",
            params={"after": str(after), "timeout": str(int(timeout))},
            timeout=timeout + REQUEST_SLACK_S,
        )
        try:
            return [
                FeedEvent(int(item["id"]), str(item["kind"]), dict(item["payload"]))
                for item in body["events"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise FeedError(f"feed response is malformed: {type(exc).__name__}: {exc}") from exc

    async def ack(self, cursor: int) -> None:
        await self._request("POST", "/hardware/ack", json={"cursor": cursor})

    async def report_status(self, status: dict[str, Any]) -> None:
        await self._request("POST", "/hardware/status", json=status)

    async def report_printed(self, print_job_ids: list[int]) -> list[int]:
        body = await self._request(
            "POST", "/hardware/printed", json={"print_job_ids": print_job_ids}
        )
        return list(body.get("printed", []))

    async def _request(
        self, method: str, path: str, *, timeout: float = REPORT_TIMEOUT_S, **kwargs: Any
    ) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers)
        url = self.base_url + path
        try:
            async with self._session.request(
                method, url, timeout=aiohttp.ClientTimeout(total=timeout), **kwargs
            ) as response:
                if response.status == 401:
                    raise FeedError(
                        f"{url} rejected the venue token: set MICROPOP_HW_VENUE_TOKEN to this "
                        "venue's token in the bot's MICROPOP_VENUE_TOKENS"
                    )
                if response.status != 200:
                    detail = (await response.text())[:200]
                    raise FeedError(f"{method} {url} failed with HTTP {response.status}: {detail}")
                return await response.json()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise FeedError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc
