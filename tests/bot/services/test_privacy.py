"""Personal data: /forget at once and the purge after the retention period, with leftover scans."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.db.models import Attendee, Claim, Delivery, DeliveryStatus, Event, WaitlistEntry
from bot.db.types import utcnow
from bot.services import announcements, attendees, claims, ephemeral, organisers, privacy
from bot.services.attendees import Arrival
from bot.services.claims import ClaimOutcome
from bot.services.events import EventFields, create_event
from bot.services.receipts import get_receipt
from tests.bot.privacy_traces import personal_traces
from tests.bot.services.drop_fixtures import LINKS, RecordingScheduler, make_drop
from tests.figures import record

ZORA = 7_000_000_101
BOB = 7_000_000_202
GRACE = timedelta(minutes=10)


def arrival(user_id: int, name: str, username: str) -> Arrival:
    return Arrival(user_id, user_id, name, username, "de-DE", "qr")


async def zora_traces(db) -> list[str]:
    return await personal_traces(db, numbers=[ZORA], words=["Zora Quintessa", "zoraq"])


async def bob_traces(db) -> list[str]:
    return await personal_traces(db, numbers=[BOB], words=["Bob Marlowe", "bobm"])


@pytest.fixture
async def night(db):
    """An event that ended an hour ago: Zora and Bob with a claim, deliveries and traces."""
    now = utcnow()
    fields = EventFields(
        title="Retention night",
        starts_at=now - timedelta(hours=5),
        ends_at=now - timedelta(hours=1),
    )
    event = await create_event(db, fields)
    zora = await attendees.register(db, event.id, arrival(ZORA, "Zora Quintessa", "zoraq"))
    bob = await attendees.register(db, event.id, arrival(BOB, "Bob Marlowe", "bobm"))

    drop, live = await make_drop(db, stock=3, waitlist=True)
    claimed = await claims.claim(
        db, drop_id=drop.id, telegram_user_id=ZORA, request_key="press-1", receipt_links=LINKS,
        now=live,
    )  # fmt: skip
    assert claimed.outcome is ClaimOutcome.CLAIMED

    scheduler = RecordingScheduler()
    for text in ("Doors open", "Last call"):
        view = await announcements.create(db, scheduler, text=text, created_by="Olga")
        await announcements.fan_out(db, view.id, grace=GRACE)
    async with db.transaction() as session:
        first = await session.scalar(select(func.min(Delivery.announcement_id)))
        for row in await session.scalars(
            select(Delivery).where(Delivery.announcement_id == first)
        ):
            row.status, row.message_id, row.sent_at = DeliveryStatus.SENT, 7, now
        session.add(WaitlistEntry(drop_id=drop.id, attendee_id=zora.id, status="waiting"))

    await ephemeral.register(db, ZORA, 55, kind="receipt", ttl=timedelta(hours=1))
    await ephemeral.register(db, BOB, 56, kind="receipt", ttl=timedelta(hours=1))
    await organisers.record(db, ZORA, "Zora Quintessa", ZORA, "stats", "/stats", "rejected")
    return {
        "event": event,
        "zora": zora,
        "bob": bob,
        "claim": claimed.claim,
        "ends_at": fields.ends_at,
    }


async def test_night_fixture_has_traces(db, night):
    assert await zora_traces(db) != []
    assert await bob_traces(db) != []


async def test_forget_leaves_no_trace(db, night):
    await privacy.forget(db, ZORA)

    leftovers = await zora_traces(db)
    record("privacy-forget", database=db.dialect, leftovers=len(leftovers))
    assert leftovers == []


async def test_forget_keeps_other_attendee(db, night):
    await privacy.forget(db, ZORA)

    bob = await attendees.find(db, night["event"].id, BOB)
    assert bob is not None
    assert bob.display_name == "Bob Marlowe"
    assert bob.chat_id == BOB


async def test_forget_keeps_claim_anonymised(db, night):
    await privacy.forget(db, ZORA)

    receipt = await get_receipt(db, night["claim"].id)
    assert receipt is not None
    assert receipt.code == night["claim"].code
    assert receipt.owner_user_id is None
    assert receipt.owner_name == ""


async def test_forget_marks_attendee_forgotten(db, night):
    await privacy.forget(db, ZORA)

    async with db.transaction() as session:
        row = await session.get(Attendee, night["zora"].id)
    assert row.forgotten_at is not None
    assert row.subscribed is False
    assert row.language == ""


async def test_forget_expires_unsent_deliveries(db, night):
    await privacy.forget(db, ZORA)

    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Delivery.status, Delivery.chat_id).where(
                    Delivery.attendee_id == night["zora"].id
                )
            )
        ).all()
    assert sorted(status.value for status, _ in rows) == ["expired", "sent"]
    assert {chat_id for _, chat_id in rows} == {None}


async def test_forget_leaves_waiting_list(db, night):
    await privacy.forget(db, ZORA)

    async with db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(WaitlistEntry))
    assert count == 0


async def test_forget_returns_messages_to_delete(db, night):
    forgotten = await privacy.forget(db, ZORA)

    assert forgotten.messages == ((ZORA, 55),)
    assert [message.chat_id for message in await ephemeral.due(db, now=utcnow() + GRACE * 12)] == [
        BOB
    ]


async def test_forget_counts_what_it_cleared(db, night):
    forgotten = await privacy.forget(db, ZORA)

    assert forgotten.attendees == 1
    assert forgotten.deliveries == 2
    assert forgotten.audit_entries == 1


async def test_forget_twice_clears_nothing_more(db, night):
    await privacy.forget(db, ZORA)

    again = await privacy.forget(db, ZORA)

    assert again.attendees == 0
    assert again.deliveries == 0


async def test_forget_unknown_person_changes_nothing(db, night):
    forgotten = await privacy.forget(db, 7_000_000_999)

    assert forgotten.attendees == 0
    assert await zora_traces(db) != []


async def test_claims_stay_after_forget(db, night):
    await privacy.forget(db, ZORA)

    async with db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(Claim))
    assert count == 1


async def test_purge_clears_everyone_after_retention(db, night):
    # Audit entries count from when they were written, a little after the event ended.
    after = utcnow() + timedelta(days=30, seconds=1)

    purged = await privacy.purge_expired(db, after_days=30, now=after)

    leftovers = await zora_traces(db) + await bob_traces(db)
    record("privacy-purge", database=db.dialect, after_days=30, leftovers=len(leftovers))
    assert purged.events == 1
    assert leftovers == []


async def test_purge_marks_event_purged(db, night):
    after = night["ends_at"] + timedelta(days=30, seconds=1)

    await privacy.purge_expired(db, after_days=30, now=after)

    async with db.transaction() as session:
        event = await session.get(Event, night["event"].id)
    assert event.purged_at == after


async def test_purge_keeps_data_within_retention(db, night):
    before = night["ends_at"] + timedelta(days=29, hours=23)

    purged = await privacy.purge_expired(db, after_days=30, now=before)

    assert purged.events == 0
    assert await bob_traces(db) != []


async def test_purge_follows_configured_days(db, night):
    after = night["ends_at"] + timedelta(days=7, seconds=1)

    purged = await privacy.purge_expired(db, after_days=7, now=after)

    assert purged.attendees == 2
    assert await bob_traces(db) == []


async def test_purge_keeps_claims(db, night):
    after = night["ends_at"] + timedelta(days=31)

    await privacy.purge_expired(db, after_days=30, now=after)

    receipt = await get_receipt(db, night["claim"].id)
    assert receipt is not None
    assert receipt.owner_user_id is None


async def test_purge_catches_late_arrival(db, night):
    after = night["ends_at"] + timedelta(days=31)
    await privacy.purge_expired(db, after_days=30, now=after)
    await attendees.register(db, night["event"].id, arrival(BOB, "Bob Marlowe", "bobm"))

    again = await privacy.purge_expired(db, after_days=30, now=after)

    assert again.attendees == 1
    assert await bob_traces(db) == []


async def test_purge_event_without_times_counts_from_creation(db):
    event = await create_event(db, EventFields(title="Undated night"))
    await attendees.register(db, event.id, arrival(BOB, "Bob Marlowe", "bobm"))
    async with db.transaction() as session:
        created = (await session.get(Event, event.id)).created_at

    early = await privacy.purge_expired(db, after_days=30, now=created + timedelta(days=29))
    late = await privacy.purge_expired(db, after_days=30, now=created + timedelta(days=30))

    assert early.attendees == 0
    assert late.attendees == 1


async def test_purge_keeps_recent_audit_entry(db, night):
    after = night["ends_at"] + timedelta(days=30, seconds=1)

    purged = await privacy.purge_expired(db, after_days=30, now=after)

    assert purged.audit_entries == 0
    assert await zora_traces(db) == [
        f"audit_log.actor_user_id = {ZORA}",
        "audit_log.actor_name = 'Zora Quintessa'",
        f"audit_log.chat_id = {ZORA}",
    ]


async def test_purge_is_quiet_when_nothing_is_due(db, night):
    purged = await privacy.purge_expired(db, after_days=30)

    assert purged == privacy.Purged(events=0, attendees=0, deliveries=0, audit_entries=0)
