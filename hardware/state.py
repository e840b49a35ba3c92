"""The venue daemon's local SQLite state: feed cursor, print jobs and beacon writes."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Handled event ids older than this are pruned, since the cursor alone covers them by then.
HANDLED_RETENTION_S = 7 * 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS handled_events (
    event_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    handled_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS print_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL,
    print_job_id INTEGER,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'printed', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    printed_at REAL,
    reported_at REAL
);
CREATE INDEX IF NOT EXISTS ix_print_jobs_status ON print_jobs (status, id);
CREATE TABLE IF NOT EXISTS beacons (
    address TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    event_id INTEGER,
    url TEXT,
    text TEXT,
    written_event_id INTEGER,
    last_write_at REAL,
    last_error TEXT,
    last_error_at REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    gatt_writes INTEGER NOT NULL DEFAULT 0
);
"""
# Columns added to the schema later, for state files created before them.
_ADDED_COLUMNS = (("beacons", "gatt_writes", "INTEGER NOT NULL DEFAULT 0"),)


@dataclass(frozen=True)
class StoredPrintJob:
    id: int
    event_id: int
    print_job_id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class BeaconContent:
    """What a beacon should show: the newest announcement's short URL and text."""

    event_id: int
    url: str
    text: str


@dataclass(frozen=True)
class BeaconRecord:
    address: str
    profile: str
    event_id: int | None
    written_event_id: int | None
    last_write_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int
    # Total GATT writes of the successful content writes. A long NUS text takes several.
    gatt_writes: int = 0


class StateStore:
    """A SQLite file that survives daemon restarts and uplink loss.

    Each method is one short transaction. An event's jobs, its handled id and the cursor are
    written together, so a crash leaves either all of them or none.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._add_missing_columns()

    def close(self) -> None:
        self._db.close()

    def _add_missing_columns(self) -> None:
        for table, column, definition in _ADDED_COLUMNS:
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # Feed cursor and handled events

    @property
    def cursor(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
        return int(row[0]) if row else 0

    def is_handled(self, event_id: int) -> bool:
        row = self._db.execute("SELECT 1 FROM handled_events WHERE event_id = ?", (event_id,))
        return row.fetchone() is not None

    def store_event(
        self,
        event_id: int,
        kind: str,
        *,
        print_job: tuple[int | None, dict[str, Any]] | None = None,
        beacon_content: BeaconContent | None = None,
    ) -> bool:
        """Store one feed event's print job and beacon content, or return False if seen before.

        Beacon content is latest-wins: it replaces a beacon's content only when its event id is
        newer, so events handled out of order never bring back an older announcement.
        """
        now = time.time()
        with self._transaction() as db:
            if db.execute(
                "SELECT 1 FROM handled_events WHERE event_id = ?", (event_id,)
            ).fetchone():
                return False
            db.execute(
                "INSERT INTO handled_events (event_id, kind, handled_at) VALUES (?, ?, ?)",
                (event_id, kind, now),
            )
            if print_job is not None:
                print_job_id, payload = print_job
                db.execute(
                    "INSERT INTO print_jobs (event_id, print_job_id, kind, payload, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (event_id, print_job_id, kind, json.dumps(payload), now),
                )
            if beacon_content is not None:
                self._store_beacon_content(db, beacon_content)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('cursor', ?) ON CONFLICT (key) DO UPDATE "
                "SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                (event_id,),
            )
        return True

    def _store_beacon_content(self, db: sqlite3.Connection, content: BeaconContent) -> None:
        latest = self.latest_beacon_content()
        if latest is not None and latest.event_id > content.event_id:
            return
        value = json.dumps(
            {"event_id": content.event_id, "url": content.url, "text": content.text}
        )
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('beacon_content', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (value,),
        )
        db.execute(
            "UPDATE beacons SET event_id = ?, url = ?, text = ? "
            "WHERE event_id IS NULL OR event_id < ?",
            (content.event_id, content.url, content.text, content.event_id),
        )

    def latest_beacon_content(self) -> BeaconContent | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'beacon_content'").fetchone()
        if row is None:
            return None
        value = json.loads(row[0])
        return BeaconContent(value["event_id"], value["url"], value["text"])

    def prune_handled(self, older_than_s: float = HANDLED_RETENTION_S) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM handled_events WHERE handled_at < ? AND event_id < "
                "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'cursor')",
                (time.time() - older_than_s,),
            )
        return cursor.rowcount

    # Print jobs

    def next_print_job(self) -> StoredPrintJob | None:
        row = self._db.execute(
            "SELECT id, event_id, print_job_id, kind, payload, attempts FROM print_jobs "
            "WHERE status = 'queued' ORDER BY id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return StoredPrintJob(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])

    def queued_print_jobs(self) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM print_jobs WHERE status = 'queued'")
        return int(row.fetchone()[0])

    def mark_printed(self, job_id: int) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE print_jobs SET status = 'printed', printed_at = ?, last_error = NULL "
                "WHERE id = ? AND status = 'queued'",
                (time.time(), job_id),
            )

    def record_print_failure(self, job_id: int, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE print_jobs SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, job_id),
            )

    def reject_print_job(self, job_id: int, error: str) -> None:
        """Take a job that can never print (a malformed payload) out of the queue."""
        with self._transaction() as db:
            db.execute(
                "UPDATE print_jobs SET status = 'rejected', last_error = ? WHERE id = ?",
                (error, job_id),
            )

    def unreported_printed(self) -> list[int]:
        """Return bot-side print job ids printed here but not yet reported to the bot."""
        rows = self._db.execute(
            "SELECT print_job_id FROM print_jobs WHERE status = 'printed' "
            "AND reported_at IS NULL AND print_job_id IS NOT NULL ORDER BY id"
        )
        return [row[0] for row in rows]

    def mark_reported(self, print_job_ids: list[int]) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE print_jobs SET reported_at = ? "
                "WHERE print_job_id = ? AND status = 'printed'",
                [(time.time(), print_job_id) for print_job_id in print_job_ids],
            )

    # Beacons

    def register_beacons(self, beacons: list[tuple[str, str]]) -> None:
        """Add configured beacons, giving new ones the newest content stored so far."""
        latest = self.latest_beacon_content()
        content = (latest.event_id, latest.url, latest.text) if latest else (None, None, None)
        with self._transaction() as db:
            for address, profile in beacons:
                db.execute(
                    "INSERT INTO beacons (address, profile, event_id, url, text) "
                    "VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (address) DO UPDATE SET profile = excluded.profile",
                    (address, profile, *content),
                )

    def pending_beacon_content(self, address: str) -> BeaconContent | None:
        row = self._db.execute(
            "SELECT event_id, url, text FROM beacons WHERE address = ? AND event_id IS NOT NULL "
            "AND (written_event_id IS NULL OR written_event_id < event_id)",
            (address,),
        ).fetchone()
        return BeaconContent(row[0], row[1], row[2]) if row else None

    def mark_beacon_written(self, address: str, event_id: int, gatt_writes: int = 0) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE beacons SET written_event_id = MAX(COALESCE(written_event_id, 0), ?), "
                "last_write_at = ?, failures = 0, gatt_writes = gatt_writes + ? "
                "WHERE address = ?",
                (event_id, time.time(), gatt_writes, address),
            )

    def record_beacon_failure(self, address: str, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE beacons SET last_error = ?, last_error_at = ?, failures = failures + 1 "
                "WHERE address = ?",
                (error, time.time(), address),
            )

    def beacon_records(self) -> list[BeaconRecord]:
        rows = self._db.execute(
            "SELECT address, profile, event_id, written_event_id, last_write_at, last_error, "
            "last_error_at, failures, gatt_writes FROM beacons ORDER BY address"
        )
        return [BeaconRecord(*row) for row in rows]
