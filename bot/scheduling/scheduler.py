"""The announcement scheduler: APScheduler 3 with its job store in the bot's database.

APScheduler 3's SQLAlchemy job store is synchronous. Run on the event loop, a job-store write
that waits for SQLite's lock would block the very coroutine holding that lock, so the
scheduler runs in its own thread (BackgroundScheduler), job-store writes requested from the
loop go through one worker thread, and the job functions, which are coroutines, are handed
back to the event loop to run.

With several bot processes on one PostgreSQL database every process writes jobs, but only the
leader (see `leadership`) runs them: the others keep their scheduler paused, and after each
write they send a NOTIFY so that the leader looks at the job store at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import pickle
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_coroutine_job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from bot import shutdown
from bot.errors import SchedulingError

logger = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
# PostgreSQL NOTIFY channel: a follower wrote a job, so the leader should look at the store.
JOBS_CHANNEL = "micropop_jobs"
# Transaction-level advisory lock that serialises creating the job table at start-up, where
# several processes starting together would otherwise race on CREATE TABLE.
TABLE_LOCK_KEY = 0x6D70_0002
# Jobs running at once. Each holds a database connection, and a burst of due jobs (a leader
# taking over a backlog) would otherwise take the whole pool and time out the sends too.
MAX_RUNNING_JOBS = 4
# How long a stopping scheduler lets running jobs finish before it cancels them.
JOB_DRAIN_S = 10.0
# After a job-store error the scheduler looks at the store again this much later.
JOB_STORE_RETRY_S = 1.0


def sync_url(url: str) -> str:
    """The synchronous twin of an async database URL, for APScheduler's job store."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = {"sqlite": "pysqlite", "postgresql": "psycopg"}.get(backend)
    if driver is None:
        raise SchedulingError(f"Unsupported database {backend!r}: use SQLite or PostgreSQL")
    return parsed.set(drivername=f"{backend}+{driver}").render_as_string(hide_password=False)


def runtime_key(database_url: str) -> str:
    return hashlib.sha256(database_url.encode()).hexdigest()[:16]


def _job_store_engine(database_url: str) -> Engine:
    url = sync_url(database_url)
    if url.startswith("sqlite"):
        # Wait for the async side's write lock as long as it waits for ours.
        return create_engine(url, connect_args={"timeout": 30})
    return create_engine(url, pool_pre_ping=True, pool_size=2)


class SharedJobStore(SQLAlchemyJobStore):
    """The SQLAlchemy job store, tolerant of rows that another process changed meanwhile.

    APScheduler 3 assumes that it owns its store. A job that disappears while the scheduler
    processes it raises JobLookupError inside the scheduler thread and stops that thread. A
    job disappears when an organiser cancels its announcement in another process, or when two
    leaders overlap until one notices that it lost the lock. Here a missing row on removal is
    the expected outcome already, and an update of a missing row stores the job again.
    """

    def start(self, scheduler: Any, alias: str) -> None:
        if self.engine.dialect.name != "postgresql":
            super().start(scheduler, alias)
            return
        with self.engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TABLE_LOCK_KEY})
            self.jobs_t.create(connection, checkfirst=True)
        super().start(scheduler, alias)

    def remove_job(self, job_id: str) -> None:
        try:
            super().remove_job(job_id)
        except JobLookupError:
            logger.info("Job already removed by another process: job_id=%s", job_id)

    def update_job(self, job: Any) -> None:
        try:
            super().update_job(job)
        except JobLookupError:
            logger.info("Job stored again after another process removed it: job_id=%s", job.id)
            self.add_job(job)


class _BackgroundScheduler(BackgroundScheduler):
    def _process_jobs(self) -> float | None:
        # APScheduler 3.11 wakes its loop on shutdown() and runs one more round, because the
        # loop checks only for the paused state. A stopping or paused process starts no job.
        if self.state != STATE_RUNNING:
            return None
        try:
            return super()._process_jobs()
        except SQLAlchemyError as exc:
            # APScheduler lets a job-store error end its thread, and with it every job of this
            # process. A locked SQLite file or a restarting PostgreSQL passes, so try again soon.
            logger.error(
                "Job store failed, trying again: retry_s=%s error=%s", JOB_STORE_RETRY_S, exc
            )
            return JOB_STORE_RETRY_S


class LoopExecutor(BaseExecutor):
    """Runs coroutine jobs on a given event loop, from the scheduler's own thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, slots: int = MAX_RUNNING_JOBS) -> None:
        super().__init__()
        self._loop = loop
        self._slots = asyncio.Semaphore(slots)
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        # The loop's tasks of running jobs; touched only on the loop.
        self._running: set[asyncio.Task[Any]] = set()

    def active_job_ids(self) -> set[str]:
        """Return the ids of jobs taken from the store and not finished yet."""
        with self._active_lock:
            return set(self._active)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        with self._active_lock:
            self._active.add(job.id)

        def done(future: Future[Any]) -> None:
            with self._active_lock:
                self._active.discard(job.id)
            try:
                events = future.result()
            except BaseException:  # noqa: BLE001 - reported through APScheduler's events
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, events)

        async def run() -> Any:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                async with self._slots:
                    return await run_coroutine_job(
                        job, job._jobstore_alias, run_times, self._logger.name
                    )
            finally:
                self._running.discard(task)

        asyncio.run_coroutine_threadsafe(run(), self._loop).add_done_callback(done)

    async def drain(self, timeout: float) -> int:
        """Let running jobs finish for up to `timeout` seconds, then cancel the rest.

        Call it on the loop after the scheduler stopped submitting. A job left running past
        the service's stop would still hold a database connection when the engine closes.
        Returns how many jobs were cancelled.
        """
        cancelled = await shutdown.drain(self._running, timeout)
        if cancelled:
            logger.warning("Jobs cancelled at shutdown: count=%s", cancelled)
        return cancelled


class Scheduler:
    """Times announcements and periodic jobs; jobs survive restarts in the job store."""

    def __init__(self, database_url: str) -> None:
        self.key = runtime_key(database_url)
        self._store_engine = _job_store_engine(database_url)
        self._notify = self._store_engine.dialect.name == "postgresql"
        self._scheduler: _BackgroundScheduler | None = None
        self._pending: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-store")
        self._in_flight: list[Future[Any]] = []
        self._executor: LoopExecutor | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    @property
    def paused(self) -> bool:
        return self._scheduler is not None and self._scheduler.state == STATE_PAUSED

    async def start(self, *, paused: bool = False) -> None:
        """Start the scheduler thread, whose jobs run on the calling event loop.

        A paused scheduler stores the jobs it is given but runs none until `resume`.
        """
        self._executor = LoopExecutor(asyncio.get_running_loop())
        self._scheduler = _BackgroundScheduler(
            jobstores={"default": SharedJobStore(engine=self._store_engine, tablename=JOB_TABLE)},
            executors={"default": self._executor},
            job_defaults={
                # A job missed while the bot was down runs once, however late; whether it is
                # still worth sending is decided with the configured grace, not here.
                "coalesce": True,
                "misfire_grace_time": None,
                "max_instances": 1,
            },
            timezone="UTC",
        )
        for name, args, kwargs in self._pending:
            getattr(self._scheduler, name)(*args, **kwargs)
        self._pending.clear()
        await asyncio.to_thread(self._scheduler.start, paused=paused)
        logger.info("Scheduler started: jobs=%s paused=%s", len(await self.job_ids()), paused)

    async def resume(self) -> None:
        """Run jobs from now on, starting with every job already due."""
        await self.flush()
        assert self._scheduler is not None, "Scheduler not started"
        await asyncio.to_thread(self._scheduler.resume)

    async def pause(self) -> None:
        """Stop running jobs. Jobs already running finish, and writes still go to the store."""
        if self._scheduler is not None and self._scheduler.running:
            await asyncio.to_thread(self._scheduler.pause)

    def wakeup(self) -> None:
        """Look at the job store now, for jobs another process added."""
        if self._scheduler is not None and self._scheduler.running and not self.paused:
            self._scheduler.wakeup()

    async def shutdown(self) -> None:
        await self.flush()
        if self._scheduler is not None and self._scheduler.running:
            await asyncio.to_thread(self._scheduler.shutdown, False)
            logger.info("Scheduler stopped")
        if self._executor is not None:
            await self._executor.drain(JOB_DRAIN_S)
        self._writes.shutdown(wait=True)
        self._store_engine.dispose()

    def schedule_announcement(self, announcement_id: int, when: datetime) -> None:
        self.add_job(
            "bot.scheduling.jobs:fire_announcement",
            DateTrigger(run_date=when),
            job_id=f"announcement:{announcement_id}",
            args=(self.key, announcement_id),
        )

    def unschedule_announcement(self, announcement_id: int) -> None:
        self._write("remove_job", f"announcement:{announcement_id}")

    def add_periodic(self, name: str, seconds: float) -> None:
        self.add_job(
            "bot.scheduling.jobs:run_periodic",
            IntervalTrigger(seconds=seconds),
            job_id=f"periodic:{name}",
            args=(self.key, name),
        )

    def add_job(
        self, func: str, trigger: object, *, job_id: str, args: tuple[object, ...]
    ) -> None:
        """Add or replace a job by its fixed id; reject arguments the job store cannot keep."""
        try:
            pickle.dumps(args)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise SchedulingError(
                f"Job {job_id} not scheduled: its arguments cannot be stored ({exc}); "
                "pass ids and plain values, never Telegram or database objects"
            ) from exc
        self._write("add_job", func, trigger, id=job_id, args=args, replace_existing=True)

    async def ensure_periodic(self, name: str, seconds: float) -> None:
        """Add a periodic job unless it is stored already with the same interval.

        Replacing it on every start would move its next run a whole interval ahead each time a
        process starts, so a job with a long interval could be put off for ever.
        """
        job = await self.get_job(f"periodic:{name}")
        interval = getattr(getattr(job, "trigger", None), "interval", None)
        if interval is not None and interval.total_seconds() == seconds:
            return
        self.add_periodic(name, seconds)

    async def add_missing_announcements(
        self, load_scheduled: Callable[[], Awaitable[list[tuple[int, datetime]]]]
    ) -> int:
        """Add a job for each scheduled (announcement id, time) that has none; return how many.

        A job that is running, or waiting for a free slot to run, counts as present. The jobs
        are listed before the announcements, so a job that finishes in between is not taken
        for missing: its announcement is no longer scheduled by then.
        """
        known = set(await self.job_ids())
        if self._executor is not None:
            known |= self._executor.active_job_ids()
        due = await load_scheduled()
        missing = [(id_, when) for id_, when in due if f"announcement:{id_}" not in known]
        for announcement_id, when in missing:
            self.schedule_announcement(announcement_id, when)
        await self.flush()
        return len(missing)

    async def flush(self) -> None:
        """Wait until every requested job-store write has been made."""
        while self._in_flight:
            future = self._in_flight.pop(0)
            await asyncio.wrap_future(future)

    async def job_ids(self) -> list[str]:
        await self.flush()
        if self._scheduler is None:
            return []
        jobs = await asyncio.to_thread(self._scheduler.get_jobs)
        return [job.id for job in jobs]

    async def get_job(self, job_id: str) -> Any:
        await self.flush()
        assert self._scheduler is not None
        return await asyncio.to_thread(self._scheduler.get_job, job_id)

    def _write(self, name: str, *args: Any, **kwargs: Any) -> None:
        if self._scheduler is None:
            # Before start: APScheduler keeps such jobs in memory until it starts anyway.
            self._pending.append((name, args, kwargs))
            return
        scheduler = self._scheduler

        def write() -> None:
            try:
                getattr(scheduler, name)(*args, **kwargs)
            except JobLookupError:
                pass  # removing a job that already ran or was never stored
            if name == "add_job" and self._notify and scheduler.state == STATE_PAUSED:
                with self._store_engine.begin() as connection:
                    connection.execute(text(f"NOTIFY {JOBS_CHANNEL}"))

        self._in_flight = [future for future in self._in_flight if not future.done()]
        self._in_flight.append(self._writes.submit(write))
