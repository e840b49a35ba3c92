"""Broadcast progress: finished announcements are marked done before any message goes out."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Announcement, AnnouncementStatus, Event
from bot.delivery.progress import ProgressReporter


async def sending_announcements(db: Database, count: int) -> list[int]:
    """Store `count` announcements in `sending` with no delivery left, as after a broadcast."""
    async with db.transaction() as session:
        event = Event(title="Night market")
        session.add(event)
        await session.flush()
        rows = [
            Announcement(event_id=event.id, text=f"News {n}", status=AnnouncementStatus.SENDING)
            for n in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def statuses(db: Database) -> list[AnnouncementStatus]:
    async with db.transaction(readonly=True) as session:
        query = select(Announcement.status).order_by(Announcement.id)
        return list((await session.scalars(query)).all())


async def test_done_marked_before_summaries_sent(db: Database):
    # The first summary waits, as a message does when the organiser group has had 20 in the
    # last minute. The second announcement must not wait for it to be marked done.
    await sending_announcements(db, 2)
    release = asyncio.Event()
    sent: list[str] = []

    async def send(text: str) -> int:
        await release.wait()
        sent.append(text)
        return len(sent)

    async def edit(message_id: int, text: str) -> int:
        return message_id

    reporter = ProgressReporter(db, send, edit)
    check = asyncio.create_task(reporter.check())
    await asyncio.sleep(0.5)

    assert not check.done()
    assert await statuses(db) == [AnnouncementStatus.DONE, AnnouncementStatus.DONE]

    release.set()
    await check
    assert len(sent) == 2
