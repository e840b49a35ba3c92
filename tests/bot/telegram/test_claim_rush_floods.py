"""A claim rush through Telegram while the Bot API responds with 429 storms: claims stay exact.

Every guest presses Claim at once. The emulator rejects bursts of receipts, card edits and
callback query answers with 429 Too Many Requests. A claim is written before any of those
calls, so the storm must not change who holds a claim, and a lost callback answer must not
cost the claimant their receipt.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, insert, select

from bot.db.models import Attendee, Claim, Drop
from bot.emulator import FaultKind
from bot.rehearsal.stage import Stage
from tests.bot.telegram.stage_helpers import live_drop
from tests.figures import record

PRESSES = 120
STOCK = 40
FIRST_GUEST = 7_950_000_000
FAST_RATES = {"rate_global_per_s": 1000.0, "rate_private_per_s": 1000.0}
# Bursts of 429 responses on every call a claim press makes after the claim is written.
STORMS = {"sendPhoto": 10, "editMessageText": 10, "answerCallbackQuery": 20}


async def seat_guests(stage: Stage, event_id: int) -> list:
    rows = [
        {"event_id": event_id, "telegram_user_id": guest, "chat_id": guest, "language": "en"}
        for guest in range(FIRST_GUEST, FIRST_GUEST + PRESSES)
    ]
    async with stage.bot.db.transaction() as session:
        await session.execute(insert(Attendee), rows)
    return [stage.emulator.user(row["telegram_user_id"], "Guest") for row in rows]


async def settled(stage: Stage) -> None:
    """Wait until every queued update is fetched and every handler has finished."""
    for _ in range(2):
        await stage.emulator.wait_for(lambda: not stage.emulator.updates.pending, timeout=120)
        await stage.emulator.wait_for(lambda: stage.bot.in_flight.count == 0, timeout=120)
        await asyncio.sleep(1.0)


async def test_claim_rush_exact_through_429_storms(tmp_path):
    async with Stage.on_sqlite(tmp_path, **FAST_RATES) as stage:
        drop = await live_drop(stage, stock=STOCK)
        guests = await seat_guests(stage, drop.event_id)
        for method, count in STORMS.items():
            stage.emulator.faults.add(FaultKind.FLOOD, method, count=count, retry_after=1)
        bot_user = stage.emulator.bot_user(stage.bot.settings.bot_token.get_secret_value())

        for guest in guests:
            card = stage.emulator.state.chats[guest.id].add_message(
                bot_user.to_api(), text="Tote bag"
            )
            stage.emulator.press_button(guest, card, f"dr:c:{drop.id}")
        await settled(stage)

        async with stage.bot.db.transaction() as session:
            holders = Counter(
                await session.scalars(
                    select(Attendee.telegram_user_id)
                    .join(Claim, Claim.attendee_id == Attendee.id)
                    .where(Claim.drop_id == drop.id)
                )
            )
            claimed = await session.scalar(
                select(func.count()).select_from(Claim).where(Claim.drop_id == drop.id)
            )
            remaining = await session.scalar(select(Drop.remaining).where(Drop.id == drop.id))
        floods = sum(call.status == 429 for call in stage.emulator.calls)
        receipts = Counter(
            call.chat_id
            for call in stage.emulator.calls_to("sendPhoto")
            if call.ok and call.chat_id in holders
        )

    record(
        "claim-rush-429",
        presses=PRESSES,
        stock=STOCK,
        claimed=claimed,
        http_429=floods,
        receipts_sent=sum(receipts.values()),
    )
    assert floods == sum(STORMS.values())
    assert (claimed, remaining) == (STOCK, 0)
    assert len(holders) == STOCK
    assert max(holders.values()) == 1
    assert set(receipts) == set(holders)
    assert max(receipts.values()) == 1
