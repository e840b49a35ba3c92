"""Jobs that go missing are restored, and a burst of due jobs runs a few at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.date import DateTrigger

from bot.scheduling import jobs
from bot.scheduling.scheduler import MAX_RUNNING_JOBS, Scheduler
from bot.services import announcements, events
from bot.services.events import EventFields


async def test_burst_of_due_jobs_runs_few_at_once(sqlite_url):
    running = 0
    peak = 0
    finished: list[str] = []

    async def slow() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.1)
        running -= 1
        finished.append("done")

    scheduler = Scheduler(sqlite_url)
    jobs.RUNTIMES[scheduler.key] = jobs.JobRuntime(
        db=None,
        grace=timedelta(minutes=10),
        wake_workers=lambda: None,
        notify_organisers=None,
        periodic={"slow": slow},
    )
    await scheduler.start(paused=True)
    past = datetime.now(UTC) - timedelta(seconds=5)
    for number in range(12):
        scheduler.add_job(
            "bot.scheduling.jobs:run_periodic",
            DateTrigger(run_date=past),
            job_id=f"burst:{number}",
            args=(scheduler.key, "slow"),
        )
    await scheduler.resume()
    try:
        for _ in range(100):
            if len(finished) == 12:
                break
            await asyncio.sleep(0.1)
    finally:
        await scheduler.shutdown()
        jobs.RUNTIMES.pop(scheduler.key, None)

    assert len(finished) == 12
    assert peak == MAX_RUNNING_JOBS


async def test_lost_announcement_job_restored(stage):
    service = stage.bot
    await events.create_event(service.db, EventFields(title="Restore night"))
    when = datetime.now(UTC) + timedelta(hours=1)
    view = await announcements.create(
        service.db, service.scheduler, text="Later", created_by="test", scheduled_for=when
    )
    await service.scheduler.flush()
    service.scheduler.unschedule_announcement(view.id)
    await service.scheduler.flush()

    restored = await service._restore_announcement_jobs()
    job = await service.scheduler.get_job(f"announcement:{view.id}")
    again = await service._restore_announcement_jobs()

    assert restored == 1
    assert job.next_run_time == when
    assert again == 0
