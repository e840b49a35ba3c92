"""Tests of the daemon's local SQLite state."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from hardware.state import BeaconContent, StateStore


def content(event_id: int) -> BeaconContent:
    return BeaconContent(event_id, f"https://popup.com/l/e{event_id}", f"Announcement {event_id}")


def test_event_is_stored_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    assert store.store_event(5, "receipt", print_job=(11, {"item": "Tote"})) is True
    assert store.store_event(5, "receipt", print_job=(11, {"item": "Tote"})) is False
    assert store.queued_print_jobs() == 1


def test_handled_events_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    first = StateStore(path)
    first.store_event(7, "announcement", print_job=(None, {"text": "hi"}))
    first.close()
    second = StateStore(path)
    assert second.store_event(7, "announcement", print_job=(None, {"text": "hi"})) is False
    assert second.cursor == 7
    assert second.queued_print_jobs() == 1


def test_cursor_never_moves_back(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.store_event(9, "announcement")
    store.store_event(4, "announcement")
    assert store.cursor == 9


def test_beacon_content_is_latest_wins(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.register_beacons([("AA:BB:CC:DD:EE:01", "eddystone")])
    store.store_event(3, "announcement", beacon_content=content(3))
    store.store_event(2, "announcement", beacon_content=content(2))
    assert store.pending_beacon_content("AA:BB:CC:DD:EE:01") == content(3)


def test_written_beacon_has_nothing_pending(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.register_beacons([("AA:BB:CC:DD:EE:01", "nus")])
    store.store_event(3, "announcement", beacon_content=content(3))
    store.mark_beacon_written("AA:BB:CC:DD:EE:01", 3)
    assert store.pending_beacon_content("AA:BB:CC:DD:EE:01") is None


def test_beacon_gatt_writes_add_up(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.register_beacons([("AA:BB:CC:DD:EE:01", "nus")])
    store.store_event(3, "announcement", beacon_content=content(3))
    store.mark_beacon_written("AA:BB:CC:DD:EE:01", 3, gatt_writes=4)
    store.store_event(4, "announcement", beacon_content=content(4))
    store.mark_beacon_written("AA:BB:CC:DD:EE:01", 4, gatt_writes=2)
    [record] = store.beacon_records()
    assert record.gatt_writes == 6


def test_old_state_file_gets_gatt_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE beacons (address TEXT PRIMARY KEY, profile TEXT NOT NULL, "
            "event_id INTEGER, url TEXT, text TEXT, written_event_id INTEGER, "
            "last_write_at REAL, last_error TEXT, last_error_at REAL, "
            "failures INTEGER NOT NULL DEFAULT 0)"
        )
        db.execute("INSERT INTO beacons (address, profile) VALUES ('AA:BB:CC:DD:EE:01', 'nus')")
        db.commit()
    store = StateStore(path)
    store.mark_beacon_written("AA:BB:CC:DD:EE:01", 1, gatt_writes=3)
    [record] = store.beacon_records()
    assert record.gatt_writes == 3


def test_new_beacon_gets_latest_content(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.store_event(3, "announcement", beacon_content=content(3))
    store.register_beacons([("AA:BB:CC:DD:EE:02", "eddystone")])
    assert store.pending_beacon_content("AA:BB:CC:DD:EE:02") == content(3)


def test_printed_job_is_reported_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.store_event(1, "receipt", print_job=(21, {}))
    job = store.next_print_job()
    assert job is not None
    store.mark_printed(job.id)
    assert store.unreported_printed() == [21]
    store.mark_reported([21])
    assert store.unreported_printed() == []


def test_failed_print_keeps_job_first(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.store_event(1, "receipt", print_job=(21, {}))
    store.store_event(2, "receipt", print_job=(22, {}))
    first = store.next_print_job()
    assert first is not None
    store.record_print_failure(first.id, "refused")
    again = store.next_print_job()
    assert again is not None
    assert again.print_job_id == 21
    assert again.attempts == 1


def test_prune_keeps_events_above_cursor(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.store_event(1, "announcement")
    store.store_event(2, "announcement")
    assert store.prune_handled(older_than_s=-1) == 1
    assert store.is_handled(2) is True
