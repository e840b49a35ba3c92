"""Scheduler leadership: one leader per database, hand-over, and job writes that wake it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from apscheduler.triggers.date import DateTrigger

from bot.db.engine import create_database
from bot.scheduling import jobs
from bot.scheduling.leadership import (
    SCHEDULER_LOCK_KEY,
    AdvisoryLockLeadership,
    SoleLeadership,
    asyncpg_dsn,
)
from bot.scheduling.scheduler import Scheduler, SharedJobStore
from tests.conftest import truncate_all

pytestmark = pytest.mark.postgres


class Member:
    """One contender for the lock, recording the callbacks it receives."""

    def __init__(self, url: str, **timing: float) -> None:
        self.events: list[str] = []
        self.wakeups = 0
        self.leadership = AdvisoryLockLeadership(
            url,
            on_elected=self._elected,
            on_deposed=self._deposed,
            on_jobs_changed=self._jobs_changed,
            **timing,
        )

    async def _elected(self) -> None:
        self.events.append("elected")

    async def _deposed(self) -> None:
        self.events.append("deposed")

    def _jobs_changed(self) -> None:
        self.wakeups += 1


@pytest.fixture
async def pg_url(postgres_url):
    database = create_database(postgres_url, pool_size=1)
    await truncate_all(database)
    await database.dispose()
    return postgres_url


async def lock_holder_pid(url: str) -> int | None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await connection.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((classid::bigint << 32) | objid::bigint) = $1",
            SCHEDULER_LOCK_KEY,
        )
    finally:
        await connection.close()


async def wait_until(predicate, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


async def test_one_of_two_processes_leads(pg_url):
    first, second = Member(pg_url), Member(pg_url)

    await first.leadership.start()
    await second.leadership.start()
    leaders = [member.leadership.is_leader for member in (first, second)]
    await second.leadership.stop()
    await first.leadership.stop()

    assert leaders == [True, False]
    assert second.events == []


async def test_follower_takes_over_when_leader_session_ends(pg_url):
    first, second = Member(pg_url), Member(pg_url, retry_s=0.5)
    await first.leadership.start()
    await second.leadership.start()
    old_pid = await lock_holder_pid(pg_url)

    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    await admin.execute("SELECT pg_terminate_backend($1)", old_pid)
    await admin.close()
    await wait_until(lambda: second.leadership.is_leader, timeout=10)
    await wait_until(lambda: not first.leadership.is_leader, timeout=10)
    new_pid = await lock_holder_pid(pg_url)
    await first.leadership.stop()
    await second.leadership.stop()

    assert first.events == ["elected", "deposed"]
    assert second.events[0] == "elected"
    assert new_pid not in (None, old_pid)


async def test_clean_stop_hands_over_without_waiting_for_retry(pg_url):
    first, second = Member(pg_url), Member(pg_url, retry_s=60.0)
    await first.leadership.start()
    await second.leadership.start()

    await first.leadership.stop()
    # Only the leader's NOTIFY can wake a follower that retries once a minute.
    await wait_until(lambda: second.leadership.is_leader, timeout=5)
    await second.leadership.stop()

    assert first.events == ["elected", "deposed"]


async def test_leader_dropped_connection_frees_lock_for_restart(pg_url):
    member = Member(pg_url, retry_s=0.5, check_s=0.5)
    await member.leadership.start()
    holder = await lock_holder_pid(pg_url)

    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    await admin.execute("SELECT pg_terminate_backend($1)", holder)
    await admin.close()
    await wait_until(lambda: member.events[-2:] == ["deposed", "elected"], timeout=10)
    await member.leadership.stop()

    assert member.events == ["elected", "deposed", "elected", "deposed"]


async def test_sqlite_process_always_leads():
    events: list[str] = []

    async def elected() -> None:
        events.append("elected")

    async def deposed() -> None:
        events.append("deposed")

    leadership = SoleLeadership(on_elected=elected, on_deposed=deposed)
    await leadership.start()
    leading = leadership.is_leader
    await leadership.stop()

    assert leading is True
    assert events == ["elected", "deposed"]


@pytest.fixture
def ticks(pg_url):
    runs: list[datetime] = []

    async def tick() -> None:
        runs.append(datetime.now(UTC))

    key = Scheduler(pg_url).key
    jobs.RUNTIMES[key] = jobs.JobRuntime(
        db=None,
        grace=timedelta(minutes=10),
        wake_workers=lambda: None,
        notify_organisers=None,
        periodic={"tick": tick},
    )
    yield runs
    jobs.RUNTIMES.pop(key, None)


async def test_follower_job_runs_at_once_on_leader(pg_url, ticks):
    leader_scheduler = Scheduler(pg_url)
    await leader_scheduler.start()
    # With no job stored the leader's scheduler sleeps until woken, and the slow check
    # leaves the follower's NOTIFY as the only thing that can wake it in time.
    member = Member(pg_url, check_s=60.0)
    member.leadership.on_jobs_changed = leader_scheduler.wakeup
    await member.leadership.start()
    follower = Scheduler(pg_url)
    await follower.start(paused=True)

    follower.add_job(
        "bot.scheduling.jobs:run_periodic",
        DateTrigger(run_date=datetime.now(UTC)),
        job_id="once:tick",
        args=(follower.key, "tick"),
    )
    await follower.flush()
    try:
        await wait_until(lambda: ticks, timeout=5)
    finally:
        await follower.shutdown()
        await member.leadership.stop()
        await leader_scheduler.shutdown()

    assert len(ticks) == 1


async def test_paused_scheduler_runs_nothing(pg_url, ticks):
    follower = Scheduler(pg_url)
    await follower.start(paused=True)

    follower.add_job(
        "bot.scheduling.jobs:run_periodic",
        DateTrigger(run_date=datetime.now(UTC)),
        job_id="once:tick",
        args=(follower.key, "tick"),
    )
    await asyncio.sleep(1.0)
    stored = await follower.job_ids()
    await follower.shutdown()

    assert ticks == []
    assert stored == ["once:tick"]


async def test_resumed_scheduler_runs_what_is_due(pg_url, ticks):
    scheduler = Scheduler(pg_url)
    await scheduler.start(paused=True)
    scheduler.add_job(
        "bot.scheduling.jobs:run_periodic",
        DateTrigger(run_date=datetime.now(UTC) - timedelta(seconds=30)),
        job_id="once:tick",
        args=(scheduler.key, "tick"),
    )

    await scheduler.resume()
    try:
        await wait_until(lambda: ticks, timeout=5)
    finally:
        await scheduler.shutdown()

    assert len(ticks) == 1


async def test_periodic_job_kept_when_interval_unchanged(pg_url, ticks):
    first = Scheduler(pg_url)
    await first.start(paused=True)
    await first.ensure_periodic("tick", 3600)
    before = (await first.get_job("periodic:tick")).next_run_time
    await first.shutdown()

    second = Scheduler(pg_url)
    await second.start(paused=True)
    await asyncio.sleep(0.2)
    await second.ensure_periodic("tick", 3600)
    after = (await second.get_job("periodic:tick")).next_run_time
    await second.ensure_periodic("tick", 60)
    changed = (await second.get_job("periodic:tick")).trigger.interval
    await second.shutdown()

    assert after == before
    assert changed == timedelta(seconds=60)


async def test_job_store_tolerates_job_removed_elsewhere(pg_url, ticks):
    scheduler = Scheduler(pg_url)
    await scheduler.start(paused=True)
    scheduler.add_periodic("tick", 60)
    job = await scheduler.get_job("periodic:tick")
    store: SharedJobStore = scheduler._scheduler._jobstores["default"]

    await asyncio.to_thread(store.remove_job, "periodic:tick")
    await asyncio.to_thread(store.remove_job, "periodic:tick")
    await asyncio.to_thread(store.update_job, job)
    ids = await scheduler.job_ids()
    await scheduler.shutdown()

    assert ids == ["periodic:tick"]


async def test_stop_racing_a_wakeup_ends_promptly(pg_url):
    # A plain session holds the lock and frees it without the NOTIFY of a leader's clean stop,
    # so nothing but this test wakes the follower, which otherwise retries once a minute.
    holder = await asyncpg.connect(asyncpg_dsn(pg_url))
    await holder.execute("SELECT pg_advisory_lock($1)", SCHEDULER_LOCK_KEY)
    member = Member(pg_url, retry_s=60.0)
    await member.leadership.start()
    await holder.execute("SELECT pg_advisory_unlock($1)", SCHEDULER_LOCK_KEY)
    await holder.close()

    # The follower is woken in the same step as it is stopped, as when the old leader's
    # NOTIFY arrives while every process shuts down together.
    member.leadership._poke.set()
    await asyncio.wait_for(member.leadership.stop(), timeout=10)

    assert member.events == []
    assert member.leadership.is_leader is False
