"""The hardware feed over HTTP: long-polled events, acks, status reports and printed jobs."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.db.engine import Database
from bot.services import venue_feed
from bot.services.shortlinks import deep_link_url, short_url
from bot.services.venue_status import InvalidStatus, parse_status
from bot.settings import Settings

logger = logging.getLogger(__name__)

# Longest a feed request is held open. Kept under common proxy idle timeouts (60 s).
MAX_POLL_TIMEOUT_S = 50.0
# Other processes publish without waking this one, so waiting requests look this often.
DB_POLL_INTERVAL_S = 1.0

AlertCallback = Callable[[str], Awaitable[None]]


def setup_feed_routes(
    app: web.Application,
    db: Database,
    settings: Settings,
    *,
    on_alert: AlertCallback | None = None,
) -> None:
    """Add /hardware/feed, /hardware/ack, /hardware/status and /hardware/printed to `app`.

    Every route needs `Authorization: Bearer <token>` with a token of MICROPOP_VENUE_TOKENS,
    and the token identifies the venue. `on_alert` receives organiser alerts from status reports.
    """
    routes = _FeedRoutes(db, settings, on_alert)
    app.router.add_get("/hardware/feed", routes.feed)
    app.router.add_post("/hardware/ack", routes.ack)
    app.router.add_post("/hardware/status", routes.status)
    app.router.add_post("/hardware/printed", routes.printed)
    app.on_shutdown.append(routes.release_waiters)


class _FeedRoutes:
    def __init__(self, db: Database, settings: Settings, on_alert: AlertCallback | None) -> None:
        self.db = db
        self.settings = settings
        self.on_alert = on_alert
        self.tokens = [
            (token.encode(), venue) for token, venue in settings.venue_token_map().items()
        ]
        self.notifier = venue_feed.notifier_for(db)
        self.closing = False

    async def release_waiters(self, _app: web.Application) -> None:
        # A held long poll would delay shutdown by its whole timeout.
        self.closing = True
        self.notifier.notify()

    def venue_of(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        venue = None
        # Every token is compared in full, so the time taken does not reveal a matching prefix.
        for known, name in self.tokens:
            if hmac.compare_digest(known, token.strip().encode()) and scheme.lower() == "bearer":
                venue = name
        if venue is None:
            logger.warning(
                "Hardware feed request rejected: remote=%s path=%s", request.remote, request.path
            )
            raise web.HTTPUnauthorized(
                text='{"error": "missing or unknown venue token"}',
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return venue

    async def feed(self, request: web.Request) -> web.Response:
        venue = self.venue_of(request)
        after = _int_param(request, "after", 0, minimum=0)
        timeout = min(float(_int_param(request, "timeout", 25, minimum=0)), MAX_POLL_TIMEOUT_S)
        limit = _int_param(request, "limit", venue_feed.MAX_BATCH, minimum=1)
        await venue_feed.touch(self.db, venue)

        deadline = time.monotonic() + timeout
        while True:
            events = await venue_feed.events_after(self.db, after, limit)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0 or self.closing:
                break
            await self.notifier.wait(min(DB_POLL_INTERVAL_S, remaining))

        body = {
            "events": [self._public(event) for event in events],
            "cursor": events[-1].id if events else after,
        }
        return web.json_response(body)

    async def ack(self, request: web.Request) -> web.Response:
        venue = self.venue_of(request)
        body = await _json_object(request)
        cursor = body.get("cursor")
        if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
            raise _bad_request(f"cursor must be a whole number of 0 or more, got {cursor!r}")
        await venue_feed.ack(self.db, venue, cursor)
        return web.json_response({"ok": True})

    async def status(self, request: web.Request) -> web.Response:
        venue = self.venue_of(request)
        body = await _json_object(request)
        try:
            status = parse_status(body)
        except InvalidStatus as exc:
            logger.warning("Hardware status rejected: venue=%s error=%s", venue, exc)
            raise _bad_request(str(exc)) from None
        alerts = await venue_feed.record_status(self.db, venue, status)
        if self.on_alert is not None:
            for alert in alerts:
                try:
                    await self.on_alert(alert)
                except Exception:  # noqa: BLE001 - an alert failure must not fail the report
                    logger.exception("Hardware alert not delivered: venue=%s", venue)
        return web.json_response({"ok": True, "alerts": len(alerts)})

    async def printed(self, request: web.Request) -> web.Response:
        venue = self.venue_of(request)
        body = await _json_object(request)
        ids = body.get("print_job_ids")
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise _bad_request(f"print_job_ids must be a list of whole numbers, got {ids!r}")
        newly = [job_id for job_id in ids if await venue_feed.mark_printed(self.db, job_id)]
        logger.info(
            "Printed jobs reported: venue=%s reported=%s new=%s", venue, len(ids), len(newly)
        )
        return web.json_response({"printed": newly})

    def _public(self, event: venue_feed.FeedEvent) -> dict[str, Any]:
        payload = dict(event.payload)
        if payload.get("start") and not payload.get("deep_link"):
            payload["deep_link"] = deep_link_url(self.settings, payload["start"])
        if payload.get("short_code"):
            payload["short_url"] = short_url(self.settings, payload["short_code"])
        return {
            "id": event.id,
            "kind": event.kind,
            "created_at": event.created_at.isoformat(),
            "payload": payload,
        }


def _int_param(request: web.Request, name: str, default: int, *, minimum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise _bad_request(f"{name}={raw!r} is invalid: use a whole number of {minimum} or more")
    return value


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad_request("request body is not JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("request body must be a JSON object")
    return body


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")
