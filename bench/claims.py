"""Benchmark the drop rush: 500 simultaneous claim presses for 50 units, SQLite and PostgreSQL.

Run: `.venv/bin/python bench/claims.py [--presses 500] [--stock 50] [--repetitions 3]`.
PostgreSQL comes from MICROPOP_BENCH_POSTGRES_URL (default: the test server on 127.0.0.1);
a database of its own is created and dropped. The last line printed is one JSON object.

Latency is the claim decision as a handler measures it: from calling `claims.claim` to its result,
pool or lock waits included. Every press of a repetition starts at the same instant (T-0).
Before the first rush the script does what `micropop run` does at start: it opens the pool's
connections, prepares the claim statements on them and freezes the start-up heap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.db import migrate  # noqa: E402
from bot.db.engine import Database, create_database  # noqa: E402
from bot.db.models import Attendee, Claim, Drop  # noqa: E402
from bot.db.types import utcnow  # noqa: E402
from bot.service import freeze_startup_heap  # noqa: E402
from bot.services import claim_desk, claims, drops, events  # noqa: E402
from bot.services.claims import ClaimOutcome  # noqa: E402
from bot.services.events import EventFields  # noqa: E402
from bot.services.receipts import ReceiptLinks  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
LINKS = ReceiptLinks(secret="bench-secret-of-some-length", bot_username="micropop_bench_bot")


async def rush(db: Database, presses: int, stock: int, seed: int) -> dict[str, object]:
    """Run one rush on a fresh event; return latencies and the invariant checks."""
    event = await events.create_event(db, EventFields(title=f"Bench {seed}"))
    first_user = seed * 1_000_000
    users = list(range(first_user, first_user + presses))
    async with db.transaction() as session:
        await session.execute(
            insert(Attendee),
            [{"event_id": event.id, "telegram_user_id": u, "chat_id": u} for u in users],
        )
    starts_at = utcnow() + timedelta(minutes=1)
    drop = await drops.create_drop(db, title="Bench tee", starts_at=starts_at, stock=stock)
    live = starts_at + timedelta(milliseconds=1)
    random.Random(seed).shuffle(users)

    latencies: list[float] = []
    sold_out_at: list[float] = []
    outcomes: Counter[str] = Counter()

    async def press(user_id: int) -> None:
        started = time.perf_counter()
        result = await claims.claim(
            db,
            drop_id=drop.id,
            telegram_user_id=user_id,
            request_key=f"bench-{seed}-{user_id}",
            receipt_links=LINKS,
            now=live,
        )
        done = time.perf_counter()
        latencies.append(done - started)
        outcomes[result.outcome.value] += 1
        if result.outcome is ClaimOutcome.SOLD_OUT:
            sold_out_at.append(done)

    t0 = time.perf_counter()
    await asyncio.gather(*(press(user_id) for user_id in users))
    wall = time.perf_counter() - t0

    async with db.transaction() as session:
        claimed = await session.scalar(
            select(func.count()).select_from(Claim).where(Claim.drop_id == drop.id)
        )
        max_per_person = await session.scalar(
            select(func.count())
            .select_from(Claim)
            .where(Claim.drop_id == drop.id)
            .group_by(Claim.attendee_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        remaining = await session.scalar(select(Drop.remaining).where(Drop.id == drop.id))
    return {
        "latencies": latencies,
        "sold_out_s": (max(sold_out_at) - t0) if sold_out_at else None,
        "wall_s": wall,
        "oversell": max(claimed - stock, 0) + max(-remaining, 0),
        "over_limit": max((max_per_person or 0) - 1, 0),
        "claimed": claimed,
        "outcomes": dict(outcomes),
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


async def run_dialect(url: str, args: argparse.Namespace) -> dict[str, object]:
    db = create_database(url)
    await migrate.upgrade(db)
    # Start-up as `micropop run` does it before any update arrives: the pool's connections
    # opened with the claim statements prepared, then the start-up heap frozen. Every rush,
    # the first included, is measured.
    await db.open_connections(prepare=claim_desk.prepare_statements)
    freeze_startup_heap()
    seeds = range(1, args.repetitions + 1)
    runs = [await rush(db, args.presses, args.stock, seed) for seed in seeds]
    await db.dispose()
    latencies = [value for run in runs for value in run["latencies"]]
    sold_out = [run["sold_out_s"] for run in runs if run["sold_out_s"] is not None]
    return {
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "sold_out_ms": round(max(sold_out) * 1000, 1) if sold_out else None,
        "wall_ms": round(max(run["wall_s"] for run in runs) * 1000, 1),
        "oversell": sum(run["oversell"] for run in runs),
        "over_limit": sum(run["over_limit"] for run in runs),
        "claimed": [run["claimed"] for run in runs],
        "outcomes": runs[-1]["outcomes"],
    }


async def with_postgres(admin_url: str, args: argparse.Namespace) -> dict[str, object]:
    name = f"micropop_bench_{uuid.uuid4().hex[:8]}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    admin = create_database(admin_url, pool_size=1)
    async with admin.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return await run_dialect(url, args)
    finally:
        async with admin.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def main(args: argparse.Namespace) -> dict[str, object]:
    figures: dict[str, object] = {"presses": args.presses, "stock": args.stock}
    with tempfile.TemporaryDirectory() as directory:
        sqlite = await run_dialect(f"sqlite+aiosqlite:///{directory}/bench.sqlite3", args)
    admin_url = os.environ.get("MICROPOP_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    postgres = await with_postgres(admin_url, args)
    for prefix, result in (("sqlite", sqlite), ("postgres", postgres)):
        print(prefix, json.dumps(result), file=sys.stderr)
        for key, value in result.items():
            figures[f"{prefix}_{key}"] = value
    figures["oversell"] = sqlite["oversell"] + postgres["oversell"]
    figures["over_limit"] = sqlite["over_limit"] + postgres["over_limit"]
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=500)
    parser.add_argument("--stock", type=int, default=50)
    parser.add_argument("--repetitions", type=int, default=3)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
