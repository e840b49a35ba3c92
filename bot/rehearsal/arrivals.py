"""Ways simulated guests find the bot: the door poster, a beacon, a printed slip or a friend.

Each path ends in the /start payload a Telegram client would send. The poster and the slips are
scanned from their PNG pictures, and a beacon's short link is resolved through the bot's real
/l/<code> HTTP redirect, so a broken QR code or redirect shows up in the rehearsal.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp

from bot import links
from bot.rehearsal.pictures import poster_png, scan_qr
from bot.rehearsal.stage import Stage
from bot.rehearsal.timeline import Timeline
from bot.rehearsal.venue import VenueRig

logger = logging.getLogger(__name__)

SHORT_LINK_ATTEMPTS = 3


class Arrivals:
    """Turns a guest's way in into a start payload, and counts how each way worked."""

    def __init__(
        self,
        stage: Stage,
        venue: VenueRig,
        http: aiohttp.ClientSession,
        timeline: Timeline,
        report_dir: Path,
    ) -> None:
        self.stage = stage
        self.venue = venue
        self.http = http
        self.timeline = timeline
        self.report_dir = report_dir
        self.poster_payload = ""
        self.shared_payload = ""
        self.poster_scanned = False
        self.used: Counter[str] = Counter()
        self.fallbacks: Counter[str] = Counter()
        self.short_links_resolved = 0
        self._slip_payloads: dict[Path, str | None] = {}

    def prepare(self, event_id: int, event_title: str) -> None:
        """Print the door poster with the event's QR code and scan it once, as phones will."""
        secret = self.stage.bot.settings.signing_secret.get_secret_value()
        poster = links.encode(
            links.Link(links.LinkKind.EVENT, event_id, links.ArrivalSource.QR), secret
        )
        self.shared_payload = links.encode(
            links.Link(links.LinkKind.EVENT, event_id, links.ArrivalSource.SHARED), secret
        )
        link = links.deep_link(self.stage.emulator.bot_username, poster)
        picture = poster_png(event_title, link)
        self.report_dir.mkdir(parents=True, exist_ok=True)
        (self.report_dir / "poster.png").write_bytes(picture)

        scanned = scan_qr(picture)
        self.poster_scanned = scanned is not None
        if scanned is not None and scanned != link:
            self.timeline.add("problem", f"Door poster QR reads {scanned!r}, not {link!r}")
        self.poster_payload = _start_payload(scanned or link) or poster
        scan_note = "scanned from its PNG" if self.poster_scanned else "not scanned (no zxing-cpp)"
        self.timeline.add("setup", f"Door poster printed with {link}, {scan_note}")

    async def payload_for(self, source: str) -> tuple[str, str]:
        """Return the start payload for a guest arriving by `source`, and the way it came."""
        payload: str | None = None
        if source == "beacon":
            payload = await self._from_beacon()
        elif source == "slip":
            payload = await self._from_slip()
        elif source == "shared":
            payload = self.shared_payload
        used = source if payload else "poster"
        if payload is None:
            self.fallbacks[source] += 1
            payload = self.poster_payload
        self.used[used] += 1
        return payload, used

    async def _from_beacon(self) -> str | None:
        url = self.venue.beacon_url()
        if not url:
            return None
        for attempt in range(1, SHORT_LINK_ATTEMPTS + 1):
            try:
                payload = await self._resolve(url)
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.info(
                    "Short link not resolved: url=%s attempt=%s error=%s", url, attempt, exc
                )
                payload = None
            if payload:
                self.short_links_resolved += 1
                return payload
            await asyncio.sleep(0.3 * attempt)
        return None

    async def _resolve(self, url: str) -> str | None:
        """Follow the short link's redirect on the bot's web port and read the deep link."""
        service = self.stage.service
        if service is None or service.web_port is None:
            return None
        # The public base URL is the bot's own web app; here it listens on 127.0.0.1.
        local = f"http://127.0.0.1:{service.web_port}{urlsplit(url).path}"
        timeout = aiohttp.ClientTimeout(total=5)
        async with self.http.get(local, allow_redirects=False, timeout=timeout) as response:
            if response.status != 302:
                logger.info(
                    "Short link returned HTTP %s instead of 302: url=%s", response.status, url
                )
                return None
            return _start_payload(response.headers.get("Location", ""))

    async def _from_slip(self) -> str | None:
        slips = sorted(self.venue.slip_previews())
        if not slips:
            return None
        newest = slips[-1]
        if newest not in self._slip_payloads:
            picture = await asyncio.to_thread(newest.read_bytes)
            scanned = await asyncio.to_thread(scan_qr, picture)
            self._slip_payloads[newest] = _start_payload(scanned or "")
        return self._slip_payloads[newest]


def _start_payload(deep_link: str) -> str | None:
    values = parse_qs(urlsplit(deep_link).query).get("start")
    return values[0] if values else None
