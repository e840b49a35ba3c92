"""Scale-out: broadcast and update throughput of 1 and of 3 `micropop run` processes.

Each process is its own `python -m bot.cli run` in webhook mode, on one PostgreSQL database
and one Redis server, behind a round-robin proxy, against the Bot API emulator in this
process (the rig of tests/bot/cluster.py). For each process count, in one run:

- updates: a burst of /start from distinct users through the webhook, replies per second;
- broadcast_raised: one announcement to many recipients with Telegram's limits lifted in the
  emulator and in micropop, sends per second (what the processes can push);
- broadcast_limited: the same at Telegram's limits (30/s overall, shared through Redis), sends
  per second and the highest count the emulator saw in any one second.

    .venv/bin/python bench/scaleout.py [--processes 1,3] [--updates 1000] [--recipients 3000]
        [--limited-recipients 600]

PostgreSQL comes from MICROPOP_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432/test; the
bench creates and drops a database of its own) and Redis from MICROPOP_TEST_REDIS_URL. The last
line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import migrate  # noqa: E402
from bot.db.engine import Database, create_database  # noqa: E402
from bot.db.models import Attendee, Delivery  # noqa: E402
from bot.db.types import utcnow  # noqa: E402
from bot.emulator import BotAPIEmulator, RateLimits  # noqa: E402
from bot.rehearsal.stage import ORGANISER_CHAT_ID  # noqa: E402
from bot.scheduling.scheduler import Scheduler  # noqa: E402
from bot.services import announcements, events  # noqa: E402
from bot.services.events import EventFields  # noqa: E402
from tests.bot.cluster import Cluster  # noqa: E402

POSTGRES_URL = os.environ.get(
    "MICROPOP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MICROPOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RAISED = {"rate_global_per_s": 100_000, "rate_private_per_s": 100_000}


@asynccontextmanager
async def scratch_database() -> AsyncIterator[tuple[str, Database]]:
    """Create a migrated database of its own on the PostgreSQL server; drop it afterwards."""
    name = f"micropop_bench_{uuid.uuid4().hex[:10]}"
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    admin = create_database(POSTGRES_URL, pool_size=1)
    async with admin.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    database = create_database(url, pool_size=2)
    try:
        await migrate.upgrade(database)
        yield url, database
    finally:
        await database.dispose()
        async with admin.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@asynccontextmanager
async def running(
    processes: int, directory: Path, limits: RateLimits | None, **settings: object
) -> AsyncIterator[tuple[BotAPIEmulator, Cluster, Database, int]]:
    async with scratch_database() as (url, database):
        event = await events.create_event(database, EventFields(title="Bench night"))
        async with BotAPIEmulator(limits=limits) as emulator:
            emulator.group(ORGANISER_CHAT_ID, "Organisers", "supergroup")
            cluster = Cluster(emulator, url, REDIS_URL, directory, processes=processes, **settings)
            async with cluster:
                yield emulator, cluster, database, event.id


async def add_guests(
    database: Database, emulator: BotAPIEmulator, event_id: int, user_ids: range
) -> None:
    now = utcnow()
    rows = [
        {
            "event_id": event_id,
            "telegram_user_id": user_id,
            "chat_id": user_id,
            "display_name": f"Guest {user_id}",
            "language": "en",
            "arrival_source": "bench",
            "subscribed": True,
            "consent": True,
            "unreachable": False,
            "joined_at": now,
            "last_seen_at": now,
        }
        for user_id in user_ids
    ]
    async with database.transaction() as session:
        await session.execute(insert(Attendee), rows)
    for user_id in user_ids:
        emulator.user(user_id, f"Guest {user_id}")


async def measure_updates(emulator: BotAPIEmulator, count: int) -> float:
    users = [emulator.user(900_000 + n, f"Visitor {n}") for n in range(count)]
    started = time.perf_counter()
    for user in users:
        emulator.send_start(user)
    await emulator.wait_for(lambda: all(emulator.messages(u.id) for u in users), timeout=600)
    return count / (time.perf_counter() - started)


async def measure_broadcast(
    emulator: BotAPIEmulator, database: Database, url: str, recipients: int
) -> tuple[float, int]:
    """Send one announcement to every attendee; return sends per second and the peak second."""
    writer = Scheduler(url)
    await writer.start(paused=True)
    first_send = len(emulator.stats.accepted)
    try:
        await announcements.create(database, writer, text="Bench broadcast", created_by="bench")
        await writer.flush()
    finally:
        await writer.shutdown()
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        async with database.transaction(readonly=True) as session:
            sent = await session.scalar(select(func.count()).where(Delivery.status == "sent"))
        if sent >= recipients:
            break
        await asyncio.sleep(0.5)
    times = [
        send.at for send in emulator.stats.accepted[first_send:] if send.chat_type == "private"
    ]
    rate = (len(times) - 1) / (times[-1] - times[0])
    return rate, emulator.stats.max_rate()


async def measure(processes: int, options: argparse.Namespace, directory: Path) -> dict:
    figures: dict[str, float | int] = {}
    guests = range(100_001, 100_001 + options.recipients)
    async with running(processes, directory, None, **RAISED) as (emulator, cluster, db, event):
        figures["updates_per_s"] = round(await measure_updates(emulator, options.updates), 1)
        await add_guests(db, emulator, event, guests)
        rate, _ = await measure_broadcast(emulator, db, cluster.database_url, len(guests))
        figures["broadcast_raised_per_s"] = round(rate, 1)

    limits = RateLimits(enforce=False)
    guests = range(200_001, 200_001 + options.limited_recipients)
    async with running(processes, directory, limits) as (emulator, cluster, db, event):
        await add_guests(db, emulator, event, guests)
        rate, peak = await measure_broadcast(emulator, db, cluster.database_url, len(guests))
        figures["broadcast_limited_per_s"] = round(rate, 1)
        figures["broadcast_limited_peak_second"] = peak
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,3", help="process counts, comma-separated")
    parser.add_argument("--updates", type=int, default=1000, help="/start updates in the burst")
    parser.add_argument("--recipients", type=int, default=3000, help="raised-limit broadcast")
    parser.add_argument(
        "--limited-recipients", type=int, default=600, help="broadcast at Telegram's limits"
    )
    options = parser.parse_args()
    counts = [int(count) for count in options.processes.split(",")]

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="micropop-bench-") as scratch:
        for processes in counts:
            results[str(processes)] = await measure(processes, options, Path(scratch))
            print(f"processes={processes} {results[str(processes)]}", flush=True)

    figures: dict[str, object] = {
        "updates": options.updates,
        "recipients": options.recipients,
        "limited_recipients": options.limited_recipients,
        "cores": os.cpu_count(),
        "processes": results,
    }
    if len(counts) == 2:
        low, high = (results[str(count)] for count in counts)
        figures["updates_ratio"] = round(high["updates_per_s"] / low["updates_per_s"], 2)
        figures["broadcast_raised_ratio"] = round(
            high["broadcast_raised_per_s"] / low["broadcast_raised_per_s"], 2
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
