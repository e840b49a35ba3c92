"""Scheduled announcements: on time, late within the grace, missed beyond it."""

from __future__ import annotations

from datetime import timedelta

from bot.db.types import utcnow
from bot.rehearsal.stage import ORGANISER_CHAT_ID
from bot.services import announcements

from .test_broadcast import copies, seat_attendees, wait_until_done


async def schedule(stage, text: str, when):
    return await announcements.create(
        stage.bot.db, stage.bot.scheduler, text=text, created_by="test", scheduled_for=when
    )


async def test_scheduled_announcement_waits_for_its_time(stage):
    (chat,) = await seat_attendees(stage, 1)

    view = await schedule(stage, "Doors in 2", utcnow() + timedelta(seconds=2))
    early = copies(stage, chat, "Doors in 2")
    await wait_until_done(stage, view.id)

    sent = next(c for c in stage.emulator.calls_to("sendMessage") if c.chat_id == chat)
    assert early == 0
    assert copies(stage, chat, "Doors in 2") == 1
    assert sent.ok


async def test_late_run_within_grace_sent_with_delayed_mark(stage):
    (chat,) = await seat_attendees(stage, 1)

    view = await schedule(stage, "Raffle now", utcnow() - timedelta(minutes=5))
    await wait_until_done(stage, view.id)

    texts = [m["text"] for m in stage.emulator.messages(chat)]
    assert texts == ["Delayed announcement:\nRaffle now"]


async def test_run_beyond_grace_reported_missed_not_sent(stage):
    (chat,) = await seat_attendees(stage, 1)

    view = await schedule(stage, "Old news", utcnow() - timedelta(minutes=11))
    report = await stage.emulator.wait_for_message(
        ORGANISER_CHAT_ID, lambda m: "missed" in m.get("text", "")
    )

    assert f"Announcement {view.id} was missed" in report["text"]
    assert stage.emulator.messages(chat) == []
    assert (await announcements.get(stage.bot.db, view.id)).status == "missed"


async def test_scheduled_announcement_fires_after_restart(stage):
    (chat,) = await seat_attendees(stage, 1)
    view = await schedule(stage, "After restart", utcnow() + timedelta(seconds=3))

    await stage.restart_bot()
    await wait_until_done(stage, view.id)

    assert copies(stage, chat, "After restart") == 1
    assert (await stage.bot.scheduler.job_ids()).count("periodic:purge-updates") == 1


async def test_progress_message_edited_to_final_summary(stage):
    await seat_attendees(stage, 3)

    view = await schedule(stage, "Hello all", None)
    await wait_until_done(stage, view.id)

    summary = await stage.emulator.wait_for_message(
        ORGANISER_CHAT_ID, lambda m: "finished" in m.get("text", "")
    )
    assert summary["text"] == f"Announcement {view.id} finished: sent 3"
