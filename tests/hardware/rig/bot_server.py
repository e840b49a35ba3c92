"""The bot's hardware feed and short-link routes served on 127.0.0.1 over a SQLite file."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.db.engine import Database, create_database
from bot.db.models import Base, Event, PrintJob
from bot.services import venue_feed
from bot.settings import Settings
from bot.web.feed import setup_feed_routes
from bot.web.shortlinks import setup_shortlink_routes

VENUE_TOKEN = "main-hall-token-0123456789"


class BotServer:
    """A real aiohttp app with the feed routes; `stop()` and `start()` cut and restore it."""

    def __init__(self, directory: Path) -> None:
        self.db: Database = create_database(f"sqlite+aiosqlite:///{directory / 'bot.sqlite3'}")
        self.settings = Settings(
            bot_token="123:abc",
            bot_username="micropop_bot",
            public_base_url="https://popup.com",
            venue_tokens=f"main-hall:{VENUE_TOKEN}",
            _env_file=None,
        )
        self.alerts: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def create_tables(self) -> None:
        async with self.db.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def start(self) -> None:
        async def on_alert(text: str) -> None:
            self.alerts.append(text)

        app = web.Application()
        setup_feed_routes(app, self.db, self.settings, on_alert=on_alert)
        setup_shortlink_routes(app, self.db, self.settings)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def close(self) -> None:
        await self.stop()
        await self.db.dispose()

    async def publish(self, kind: str, payload: dict[str, object]) -> int:
        async with self.db.transaction() as session:
            return await venue_feed.publish(session, kind, payload)

    async def publish_receipt(self, code: str) -> tuple[int, int]:
        """Add a receipt print job and publish it as the claims service does; return both ids."""
        async with self.db.transaction() as session:
            event = Event(title="Night Market", time_zone="Europe/Berlin")
            session.add(event)
            await session.flush()
            payload = {
                "event": "Night Market",
                "item": "Tote bag",
                "code": code,
                "claimed_at": "2026-05-01T19:30:00+00:00",
                "time_zone": "Europe/Berlin",
                "link": f"https://t.me/micropop_bot?start=r1-rc_{code}",
            }
            job = PrintJob(event_id=event.id, kind="receipt", payload=payload)
            session.add(job)
            await session.flush()
            event_id = await venue_feed.publish(
                session, "receipt", {**payload, "print_job_id": job.id}
            )
            return job.id, event_id

    async def print_status(self, print_job_id: int) -> str:
        async with self.db.sessions() as session:
            job = await session.get(PrintJob, print_job_id)
            assert job is not None
            return str(job.status)
