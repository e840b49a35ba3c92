"""The persistent scheduler: catch-up runs, fixed job ids, storable arguments."""

from __future__ import annotations

import asyncio
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from bot.errors import SchedulingError
from bot.scheduling import jobs
from bot.scheduling.scheduler import JOB_TABLE, Scheduler, sync_url


@pytest.fixture
def ticks(sqlite_url):
    """A periodic task that counts its runs, registered under the scheduler's key."""
    runs: list[datetime] = []

    async def tick() -> None:
        runs.append(datetime.now(UTC))

    key = Scheduler(sqlite_url).key
    jobs.RUNTIMES[key] = jobs.JobRuntime(
        db=None,
        grace=timedelta(minutes=10),
        wake_workers=lambda: None,
        notify_organisers=None,
        periodic={"tick": tick},
    )
    yield runs
    jobs.RUNTIMES.pop(key, None)


def move_job_back(url: str, job_id: str, by: timedelta) -> None:
    """Rewrite a stored job's next run time, as if the bot had been down for `by`."""
    engine = create_engine(sync_url(url))
    when = datetime.now(UTC) - by
    with engine.begin() as connection:
        row = connection.execute(
            text(f"SELECT job_state FROM {JOB_TABLE} WHERE id = :id"), {"id": job_id}
        ).one()
        state = pickle.loads(row.job_state)
        state["next_run_time"] = when
        connection.execute(
            text(f"UPDATE {JOB_TABLE} SET job_state = :state, next_run_time = :at WHERE id = :id"),
            {"state": pickle.dumps(state), "at": when.timestamp(), "id": job_id},
        )
    engine.dispose()


async def test_repeating_job_missed_three_times_runs_once(sqlite_url, ticks):
    first = Scheduler(sqlite_url)
    await first.start()
    first.add_periodic("tick", 60)
    await first.shutdown()
    move_job_back(sqlite_url, "periodic:tick", timedelta(minutes=3))

    second = Scheduler(sqlite_url)
    await second.start()
    await asyncio.sleep(1.5)
    await second.shutdown()

    assert len(ticks) == 1


async def test_fixed_job_id_registered_twice_is_one_job(sqlite_url, ticks):
    for _ in range(2):
        scheduler = Scheduler(sqlite_url)
        await scheduler.start()
        scheduler.add_periodic("tick", 60)
        ids = await scheduler.job_ids()
        await scheduler.shutdown()

    assert ids == ["periodic:tick"]


async def test_unstorable_argument_rejected_when_added(sqlite_url):
    scheduler = Scheduler(sqlite_url)

    with pytest.raises(SchedulingError, match="cannot be stored"):
        scheduler.add_job(
            "bot.scheduling.jobs:run_periodic", None, job_id="bad", args=(lambda: None,)
        )


async def test_announcement_job_survives_restart(sqlite_url, ticks):
    when = datetime.now(UTC) + timedelta(hours=1)
    first = Scheduler(sqlite_url)
    await first.start()
    first.schedule_announcement(7, when)
    await first.shutdown()

    second = Scheduler(sqlite_url)
    await second.start()
    job = await second.get_job("announcement:7")
    await second.shutdown()

    assert job.next_run_time == when


@pytest.fixture
def slow_job(sqlite_url):
    """A periodic task that takes `seconds[0]` to run; records when it started and ended."""
    seen: dict[str, object] = {"seconds": 0.5}
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(seen["seconds"])
            seen["finished"] = True
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise

    key = Scheduler(sqlite_url).key
    jobs.RUNTIMES[key] = jobs.JobRuntime(
        db=None,
        grace=timedelta(minutes=10),
        wake_workers=lambda: None,
        notify_organisers=None,
        periodic={"slow": slow},
    )
    seen["started"] = started
    yield seen
    jobs.RUNTIMES.pop(key, None)


async def run_until_job_started(url: str, seen: dict) -> Scheduler:
    scheduler = Scheduler(url)
    await scheduler.start()
    scheduler.add_periodic("slow", 60)
    await scheduler.flush()
    move_job_back(url, "periodic:slow", timedelta(seconds=1))
    scheduler.wakeup()
    await asyncio.wait_for(seen["started"].wait(), 10)
    return scheduler


async def test_shutdown_lets_running_job_finish(sqlite_url, slow_job):
    scheduler = await run_until_job_started(sqlite_url, slow_job)

    await scheduler.shutdown()

    assert slow_job.get("finished") is True
    assert "cancelled" not in slow_job


async def test_shutdown_cancels_job_running_too_long(sqlite_url, slow_job, monkeypatch):
    monkeypatch.setattr("bot.scheduling.scheduler.JOB_DRAIN_S", 0.2)
    slow_job["seconds"] = 30
    scheduler = await run_until_job_started(sqlite_url, slow_job)

    async with asyncio.timeout(10):
        await scheduler.shutdown()

    assert slow_job.get("cancelled") is True
    assert "finished" not in slow_job


async def test_job_store_error_keeps_scheduler_running(sqlite_url, ticks, monkeypatch):
    # A locked database made APScheduler's own loop raise and end the scheduler thread.
    from sqlalchemy.exc import OperationalError

    from bot.scheduling.scheduler import SharedJobStore

    failures = []
    update = SharedJobStore.update_job

    def locked_once(store, job):
        if not failures:
            failures.append(job.id)
            raise OperationalError("UPDATE apscheduler_jobs", {}, Exception("database is locked"))
        return update(store, job)

    monkeypatch.setattr(SharedJobStore, "update_job", locked_once)
    scheduler = Scheduler(sqlite_url)
    await scheduler.start()
    scheduler.add_periodic("tick", 60)
    await scheduler.flush()
    move_job_back(sqlite_url, "periodic:tick", timedelta(seconds=1))
    scheduler.wakeup()
    for _ in range(50):
        if ticks:
            break
        await asyncio.sleep(0.1)
    await scheduler.shutdown()

    assert failures == ["periodic:tick"]
    assert len(ticks) >= 1
