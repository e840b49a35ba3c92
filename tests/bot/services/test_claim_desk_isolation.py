"""The claim desk decides presses in batches; one press that fails must not fail the others."""

from __future__ import annotations

import asyncio

import pytest

from bot.services import claims
from bot.services.claims import ClaimOutcome
from tests.bot.services.drop_fixtures import LINKS, add_attendees, make_drop, make_event


async def test_bad_press_fails_alone(db):
    event_id = await make_event(db)
    await add_attendees(db, event_id, [101])
    drop, live = await make_drop(db, stock=1)

    good, bad = await asyncio.gather(
        claims.claim(
            db, drop_id=drop.id, telegram_user_id=101, request_key="good", receipt_links=LINKS,
            now=live,
        ),
        # An id past 64 bits, as a modified client could put in callback data.
        claims.claim(
            db, drop_id=2**64, telegram_user_id=101, request_key="bad", receipt_links=LINKS,
            now=live,
        ),
        return_exceptions=True,
    )  # fmt: skip

    assert isinstance(bad, Exception)
    assert not isinstance(good, Exception)
    assert good.outcome is ClaimOutcome.CLAIMED


@pytest.mark.parametrize("drop_id", [-1, 0, 2**31 - 1])
async def test_unknown_drop_id_is_not_found(db, drop_id):
    await make_event(db)

    result = await claims.claim(
        db, drop_id=drop_id, telegram_user_id=101, request_key=f"k{drop_id}", receipt_links=LINKS
    )

    assert result.outcome is ClaimOutcome.NOT_FOUND
