"""Claims under concurrency, refusals and receipts, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import links
from bot.db.models import Claim, Drop, PrintJob
from bot.services import claims, drops, receipts
from bot.services.claims import ClaimOutcome
from tests.bot.services.drop_fixtures import LINKS, add_attendees, make_drop, make_event


async def press(db, drop_id, user_id, now, key=None):
    return await claims.claim(
        db,
        drop_id=drop_id,
        telegram_user_id=user_id,
        request_key=key or f"q-{user_id}-{random.random()}",
        receipt_links=LINKS,
        now=now,
    )


async def stored_claims(db, drop_id):
    async with db.transaction() as session:
        rows = await session.execute(
            select(Claim.attendee_id, Claim.seq).where(Claim.drop_id == drop_id)
        )
        return rows.all()


async def remaining(db, drop_id):
    async with db.transaction() as session:
        return await session.scalar(select(Drop.remaining).where(Drop.id == drop_id))


async def test_two_presses_on_last_unit_one_wins(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2])
    drop, live = await make_drop(db, stock=1)

    results = await asyncio.gather(press(db, drop.id, 1, live), press(db, drop.id, 2, live))

    outcomes = Counter(result.outcome for result in results)
    assert outcomes[ClaimOutcome.CLAIMED] == 1
    assert outcomes[ClaimOutcome.SOLD_OUT] == 1
    assert await remaining(db, drop.id) == 0
    assert len(await stored_claims(db, drop.id)) == 1


@pytest.mark.parametrize("repetition", range(3))
async def test_rush_of_500_for_50_never_oversells(db, repetition):
    event_id = await make_event(db)
    users = list(range(1000, 1500))
    await add_attendees(db, event_id, users)
    drop, live = await make_drop(db, stock=50, per_person_limit=2)
    presses = [(user, n) for user in users for n in range(1)]
    presses += [(user, 1) for user in random.sample(users, 60)]  # some press twice
    random.Random(repetition).shuffle(presses)

    results = await asyncio.gather(*(press(db, drop.id, user, live) for user, _ in presses))

    claimed = [result for result in results if result.outcome is ClaimOutcome.CLAIMED]
    rows = await stored_claims(db, drop.id)
    per_person = Counter(attendee_id for attendee_id, _ in rows)
    assert len(claimed) == 50
    assert len(rows) == 50
    assert await remaining(db, drop.id) == 0
    assert max(per_person.values()) <= 2
    assert {result.outcome for result in results} <= {
        ClaimOutcome.CLAIMED,
        ClaimOutcome.SOLD_OUT,
        ClaimOutcome.LIMIT_REACHED,
    }


async def test_five_presses_same_person_one_claim(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [7])
    drop, live = await make_drop(db, stock=10, per_person_limit=1)

    results = await asyncio.gather(*(press(db, drop.id, 7, live) for _ in range(5)))

    outcomes = Counter(result.outcome for result in results)
    assert outcomes[ClaimOutcome.CLAIMED] == 1
    assert outcomes[ClaimOutcome.LIMIT_REACHED] == 4
    assert len(await stored_claims(db, drop.id)) == 1
    assert await remaining(db, drop.id) == 9


async def test_limit_two_gives_seq_one_and_two(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [7])
    drop, live = await make_drop(db, stock=10, per_person_limit=2)

    await asyncio.gather(*(press(db, drop.id, 7, live) for _ in range(4)))

    assert sorted(seq for _, seq in await stored_claims(db, drop.id)) == [1, 2]


async def test_replayed_press_returns_same_claim(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [7])
    drop, live = await make_drop(db, stock=1)

    first, second = await asyncio.gather(
        press(db, drop.id, 7, live, key="query-1"), press(db, drop.id, 7, live, key="query-1")
    )

    assert {first.outcome, second.outcome} == {ClaimOutcome.CLAIMED, ClaimOutcome.REPLAYED}
    assert first.claim.id == second.claim.id
    assert first.claim.code == second.claim.code
    assert len(await stored_claims(db, drop.id)) == 1


async def test_claim_before_start_refused(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [7])
    drop, live = await make_drop(db, stock=3)

    result = await press(db, drop.id, 7, live - timedelta(seconds=5))

    assert result.outcome is ClaimOutcome.NOT_STARTED
    assert await remaining(db, drop.id) == 3


async def test_claim_after_sold_out_refused(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2])
    drop, live = await make_drop(db, stock=1)
    await press(db, drop.id, 1, live)

    result = await press(db, drop.id, 2, live)

    assert result.outcome is ClaimOutcome.SOLD_OUT
    assert await remaining(db, drop.id) == 0


async def test_claim_on_cancelled_drop_refused(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [7])
    drop, live = await make_drop(db, stock=3)
    await drops.cancel_drop(db, drop.id)

    result = await press(db, drop.id, 7, live)

    assert result.outcome is ClaimOutcome.CANCELLED
    assert await remaining(db, drop.id) == 3


async def test_claim_by_stranger_refused(db):
    await make_event(db)
    drop, live = await make_drop(db, stock=3)

    result = await press(db, drop.id, 99, live)

    assert result.outcome is ClaimOutcome.NOT_REGISTERED


async def test_claim_on_unknown_drop_refused(db):
    await make_event(db)

    result = await press(db, 4242, 99, None)

    assert result.outcome is ClaimOutcome.NOT_FOUND


async def test_sold_out_announced_once(db):
    event_id = await make_event(db)
    users = list(range(1, 21))
    await add_attendees(db, event_id, users)
    drop, live = await make_drop(db, stock=5)

    results = await asyncio.gather(*(press(db, drop.id, user, live) for user in users))

    assert sum(result.announce_sold_out for result in results) == 1
    assert (await drops.get_drop(db, drop.id)).sold_out_at == live


async def test_claim_queues_receipt_print_job(db):
    event_id = await make_event(db, title="Spring night")
    await add_attendees(db, event_id, [7])
    drop, live = await make_drop(db, stock=3, title="Tote bag")

    result = await press(db, drop.id, 7, live)

    async with db.transaction() as session:
        job = await session.scalar(select(PrintJob).where(PrintJob.claim_id == result.claim.id))
    assert job.kind == "receipt"
    assert job.payload["event"] == "Spring night"
    assert job.payload["item"] == "Tote bag"
    assert job.payload["code"] == result.claim.code
    assert job.payload["claimed_at"] == live.isoformat()
    assert job.payload["link"] == result.receipt_url


async def test_receipt_codes_unique_and_unambiguous(db):
    event_id = await make_event(db)
    users = list(range(1, 41))
    await add_attendees(db, event_id, users)
    drop, live = await make_drop(db, stock=40)

    results = await asyncio.gather(*(press(db, drop.id, user, live) for user in users))

    codes = [result.claim.code for result in results]
    assert len(set(codes)) == 40
    assert all(len(code) == 6 for code in codes)
    assert not set("".join(codes)) & set("01ILO")


async def test_receipt_link_decodes_to_claim(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [7])
    drop, live = await make_drop(db, stock=1)
    result = await press(db, drop.id, 7, live)

    link = links.decode(LINKS.payload(result.claim.id), LINKS.secret)

    assert link.kind is links.LinkKind.RECEIPT
    assert link.id == result.claim.id


def test_receipt_link_with_one_character_changed_rejected():
    payload = LINKS.payload(12345)

    for position in range(len(payload)):
        changed = (
            payload[:position]
            + ("A" if payload[position] != "A" else "B")
            + payload[position + 1 :]
        )
        with pytest.raises(links.InvalidPayload):
            links.decode(changed, LINKS.secret)


async def test_mark_collected_works_once(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [7])
    drop, live = await make_drop(db, stock=1)
    result = await press(db, drop.id, 7, live)

    first = await receipts.mark_collected(db, result.claim.id, by="Grace", now=live)
    second = await receipts.mark_collected(db, result.claim.id, by="Linus")

    assert first[0] is True
    assert second[0] is False
    assert second[1].collected_by == "Grace"
    assert second[1].collected_at == live


async def test_find_receipt_by_code_ignores_case(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [7])
    drop, live = await make_drop(db, stock=1)
    result = await press(db, drop.id, 7, live)

    receipt = await receipts.find_receipt_by_code(db, result.claim.code.lower())

    assert receipt.claim_id == result.claim.id
    assert receipt.owner_user_id == 7


async def test_claims_per_drop_counts_statuses(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2, 3])
    drop, live = await make_drop(db, stock=5)
    made = [await press(db, drop.id, user, live) for user in (1, 2, 3)]
    await receipts.mark_collected(db, made[0].claim.id, by="Grace")

    (stats,) = await drops.claims_per_drop(db, event_id)
    listed = await drops.list_claims(db, event_id)

    assert (stats.held, stats.collected, stats.released, stats.remaining) == (2, 1, 0, 2)
    assert [record.code for record in listed] == [result.claim.code for result in made]


async def test_print_jobs_match_claims_after_rush(db):
    event_id = await make_event(db)
    users = list(range(1, 101))
    await add_attendees(db, event_id, users)
    drop, live = await make_drop(db, stock=10)

    await asyncio.gather(*(press(db, drop.id, user, live) for user in users))

    async with db.transaction() as session:
        jobs = await session.scalar(select(func.count()).select_from(PrintJob))
    assert jobs == 10


async def test_two_processes_never_oversell(database_url, db):
    from bot.db.engine import create_database

    event_id = await make_event(db)
    users = list(range(1, 201))
    await add_attendees(db, event_id, users)
    drop, live = await make_drop(db, stock=20)
    other = create_database(database_url)

    try:
        results = await asyncio.gather(
            *(press(db if user % 2 else other, drop.id, user, live) for user in users)
        )
    finally:
        await other.dispose()

    assert sum(result.outcome is ClaimOutcome.CLAIMED for result in results) == 20
    assert len(await stored_claims(db, drop.id)) == 20
    assert await remaining(db, drop.id) == 0
