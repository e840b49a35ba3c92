"""Short-link redirects: /l/{code} sends the browser to the bot's deep link."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.db.engine import Database
from bot.services import shortlinks
from bot.settings import Settings

logger = logging.getLogger(__name__)

_NOT_FOUND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Link not found</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>Link not found</h1>
<p>This link is unknown or has expired. Scan a fresh code at the venue.</p></body></html>
"""


def setup_shortlink_routes(app: web.Application, db: Database, settings: Settings) -> None:
    """Serve GET /l/{code}: 302 to `https://t.me/<bot>?start=<payload>`, or a 404 page."""

    async def redirect(request: web.Request) -> web.StreamResponse:
        code = request.match_info["code"]
        payload = await shortlinks.resolve(db, code)
        if payload is None:
            logger.info("Short link not found: code=%r", code[:16])
            return web.Response(status=404, text=_NOT_FOUND_PAGE, content_type="text/html")
        raise web.HTTPFound(
            shortlinks.deep_link_url(settings, payload),
            headers={"Cache-Control": "public, max-age=300"},
        )

    app.router.add_get("/l/{code}", redirect)
