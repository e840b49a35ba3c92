"""Holds returning to stock and waiting-list offers, driven by an explicit clock."""

from __future__ import annotations

from datetime import timedelta

from bot.services import claims, drops, holds
from bot.services.claims import ClaimOutcome
from bot.services.holds import JoinOutcome
from tests.bot.services.drop_fixtures import LINKS, add_attendees, make_drop, make_event


async def press(db, drop_id, user_id, now, key=None):
    return await claims.claim(
        db,
        drop_id=drop_id,
        telegram_user_id=user_id,
        request_key=key or f"q-{user_id}-{now.timestamp()}",
        receipt_links=LINKS,
        now=now,
    )


async def accept(db, drop_id, user_id, now):
    return await holds.accept_offer(
        db,
        drop_id=drop_id,
        telegram_user_id=user_id,
        request_key=f"offer-{user_id}-{now.timestamp()}",
        receipt_links=LINKS,
        now=now,
    )


async def test_uncollected_claim_returns_to_stock(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1])
    drop, live = await make_drop(db, stock=1, hold_minutes=15)
    made = await press(db, drop.id, 1, live)

    early = await holds.expire_holds(db, live + timedelta(minutes=14))
    late = await holds.expire_holds(db, live + timedelta(minutes=15))

    assert early.empty
    assert [notice.claim_id for notice in late.released] == [made.claim.id]
    assert late.restocked == {drop.id: 1}
    assert (await drops.get_drop(db, drop.id)).remaining == 1


async def test_collected_claim_stays(db):
    from bot.services import receipts

    event_id = await make_event(db)
    await add_attendees(db, event_id, [1])
    drop, live = await make_drop(db, stock=1, hold_minutes=15)
    made = await press(db, drop.id, 1, live)
    await receipts.mark_collected(db, made.claim.id, by="Grace")

    result = await holds.expire_holds(db, live + timedelta(hours=1))

    assert result.empty
    assert (await drops.get_drop(db, drop.id)).remaining == 0


async def test_released_unit_offered_to_first_waiting(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2, 3])
    drop, live = await make_drop(db, stock=1, hold_minutes=10, waitlist=True)
    await press(db, drop.id, 1, live)
    assert await holds.join_waitlist(db, drop_id=drop.id, telegram_user_id=2, now=live)
    await holds.join_waitlist(db, drop_id=drop.id, telegram_user_id=3, now=live)

    result = await holds.expire_holds(db, live + timedelta(minutes=10))

    assert [notice.chat_id for notice in result.offers] == [2]
    assert result.offers[0].expires_at == live + timedelta(minutes=20)
    assert (await drops.get_drop(db, drop.id)).remaining == 0
    assert (await press(db, drop.id, 3, live + timedelta(minutes=11))).outcome is (
        ClaimOutcome.SOLD_OUT
    )


async def test_accepted_offer_becomes_claim(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2])
    drop, live = await make_drop(db, stock=1, hold_minutes=10, waitlist=True)
    await press(db, drop.id, 1, live)
    await holds.join_waitlist(db, drop_id=drop.id, telegram_user_id=2, now=live)
    await holds.expire_holds(db, live + timedelta(minutes=10))

    result = await accept(db, drop.id, 2, live + timedelta(minutes=12))

    assert result.outcome is ClaimOutcome.CLAIMED
    assert result.claim.hold_expires_at == live + timedelta(minutes=22)
    assert (await drops.get_drop(db, drop.id)).remaining == 0


async def test_expired_offer_passes_to_next(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2, 3])
    drop, live = await make_drop(db, stock=1, hold_minutes=10, waitlist=True)
    await press(db, drop.id, 1, live)
    await holds.join_waitlist(db, drop_id=drop.id, telegram_user_id=2, now=live)
    await holds.join_waitlist(db, drop_id=drop.id, telegram_user_id=3, now=live)
    await holds.expire_holds(db, live + timedelta(minutes=10))

    result = await holds.expire_holds(db, live + timedelta(minutes=20))
    refused = await accept(db, drop.id, 2, live + timedelta(minutes=21))

    assert [notice.chat_id for notice in result.expired_offers] == [2]
    assert [notice.chat_id for notice in result.offers] == [3]
    assert refused.outcome is ClaimOutcome.NO_OFFER


async def test_last_expired_offer_restocks(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2])
    drop, live = await make_drop(db, stock=1, hold_minutes=10, waitlist=True)
    await press(db, drop.id, 1, live)
    await holds.join_waitlist(db, drop_id=drop.id, telegram_user_id=2, now=live)
    await holds.expire_holds(db, live + timedelta(minutes=10))

    result = await holds.expire_holds(db, live + timedelta(minutes=20))

    assert result.restocked == {drop.id: 1}
    assert (await drops.get_drop(db, drop.id)).remaining == 1


async def test_overlapping_runs_release_once(db):
    import asyncio

    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2])
    drop, live = await make_drop(db, stock=2, hold_minutes=5)
    await press(db, drop.id, 1, live)
    await press(db, drop.id, 2, live)

    runs = await asyncio.gather(
        *(holds.expire_holds(db, live + timedelta(minutes=6)) for _ in range(4))
    )

    assert sum(len(run.released) for run in runs) == 2
    assert (await drops.get_drop(db, drop.id)).remaining == 2


async def test_join_waitlist_only_when_sold_out(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2])
    drop, live = await make_drop(db, stock=1, waitlist=True)

    before = await holds.join_waitlist(db, drop_id=drop.id, telegram_user_id=2, now=live)
    await press(db, drop.id, 1, live)
    joined = await holds.join_waitlist(db, drop_id=drop.id, telegram_user_id=2, now=live)
    again = await holds.join_waitlist(db, drop_id=drop.id, telegram_user_id=2, now=live)

    assert before is JoinOutcome.NOT_AVAILABLE
    assert joined is JoinOutcome.JOINED
    assert again is JoinOutcome.ALREADY


async def test_second_sell_out_not_announced(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [1, 2])
    drop, live = await make_drop(db, stock=1, hold_minutes=15)
    first = await press(db, drop.id, 1, live)
    await holds.expire_holds(db, live + timedelta(minutes=15))

    again = await press(db, drop.id, 2, live + timedelta(minutes=16))

    assert first.announce_sold_out
    assert again.outcome is ClaimOutcome.CLAIMED
    assert not again.announce_sold_out
    stored = await drops.get_drop(db, drop.id)
    assert stored.remaining == 0
    assert stored.sold_out_at == live
