"""Composition of the web application served by `micropop run`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bot.web.feed import setup_feed_routes
from bot.web.shortlinks import setup_shortlink_routes
from bot.web.webhook import SecretTokenRequestHandler

if TYPE_CHECKING:
    from bot.service import BotService
else:
    BotService = object

logger = logging.getLogger(__name__)

SERVICE_KEY: web.AppKey[BotService] = web.AppKey("service")


def create_web_app(service: BotService) -> web.Application:
    """Create the app: /healthz and /metrics always, the webhook when one is configured."""
    app = web.Application()
    app[SERVICE_KEY] = service
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    settings = service.settings
    if settings.webhook_url:
        handler = SecretTokenRequestHandler(
            dispatcher=service.dispatcher,
            bot=service.bot,
            secret=settings.webhook_secret.get_secret_value(),
            # Answer only after handling: if the process dies first, Telegram redelivers and
            # the once-only middleware keeps the redelivery from repeating anything.
            handle_in_background=False,
        )
        handler.register(app, path=settings.webhook_path)
    setup_feed_routes(app, service.db, settings, on_alert=service.alert_organisers)
    setup_shortlink_routes(app, service.db, settings)
    for setup in service.web_extensions:
        setup(app, service)
    return app


async def _healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    healthy = await service.check_health()
    return web.json_response(
        {"status": "ok" if healthy else "degraded", "mode": service.mode},
        status=200 if healthy else 503,
    )


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
