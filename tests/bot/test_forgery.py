"""Forged deep links and callback data: mutated payloads never act on what the sender may not.

Receipt links are signed, so a mutated receipt payload must never verify. Callback data is not
signed, so every button handler looks the ids up and checks that the presser may act on them:
an attendee may not collect a claim, confirm a broadcast or claim a drop of an event they never
joined, whatever the data names.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot import links
from bot.db.models import Announcement, Claim, Drop
from bot.db.types import utcnow
from bot.rehearsal.stage import ORGANISER_CHAT_ID, Stage
from bot.services import announcements, drops, events
from bot.services.events import EventFields
from tests.bot.telegram.stage_helpers import claim, start_payload
from tests.figures import record

SECRET = "forgery-secret-of-some-length"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# Presses on a message in the organiser group edit it there, which the group budget would slow.
FAST_RATES = {
    "rate_global_per_s": 1000.0,
    "rate_private_per_s": 1000.0,
    "rate_group_per_min": 60000.0,
}
VICTIM = 7_800_000_001
ATTACKER = 7_800_000_002


def mutate(payload: str, rng: random.Random) -> str:
    """Change a payload the ways a forger would: edit, insert, drop, swap or splice."""
    chars = list(payload)
    index = rng.randrange(len(chars))
    operation = rng.randrange(7)
    if operation == 0:
        chars[index] = rng.choice(ALPHABET)
    elif operation == 1:
        chars.insert(index, rng.choice(ALPHABET))
    elif operation == 2 and len(chars) > 1:
        del chars[index]
    elif operation == 3 and len(chars) > 1:
        other = rng.randrange(len(chars))
        chars[index], chars[other] = chars[other], chars[index]
    elif operation == 4:
        # Keep the signature, name another claim.
        other = links.encode(links.Link(links.LinkKind.EVENT, rng.randrange(1, 10_000)), "")
        return f"r{other[1:]}_{payload.partition('_')[2]}"
    elif operation == 5:
        return payload[: rng.randrange(1, len(payload))]
    else:
        chars[index] = chars[index].swapcase()
    return "".join(chars)


def test_ten_thousand_mutated_receipts_never_verify():
    rng = random.Random(20261204)
    signed = {
        links.encode(links.Link(links.LinkKind.RECEIPT, claim_id), SECRET): claim_id
        for claim_id in rng.sample(range(1, 100_000), 200)
    }
    originals = list(signed)
    forgeries = []
    tried = 0

    while tried < 10_000:
        original = rng.choice(originals)
        forged = mutate(original, rng)
        if forged in signed:
            continue
        tried += 1
        try:
            link = links.decode(forged, SECRET)
        except links.InvalidPayload:
            continue
        if link.kind is links.LinkKind.RECEIPT:
            forgeries.append(forged)

    record("forged-deep-links", tried=tried, accepted=len(forgeries))
    assert forgeries == []


@pytest.fixture
async def night(tmp_path):
    """A victim holding a claim, a broadcast awaiting confirmation and an attacker's chat."""
    async with Stage.on_sqlite(tmp_path, signing_secret=SECRET, **FAST_RATES) as stage:
        db = stage.bot.db
        earlier = await events.create_event(db, EventFields(title="Earlier night"))
        other_drop = await drops.create_drop(
            db, title="Old tee", starts_at=utcnow() + timedelta(minutes=5), stock=5
        )
        await events.create_event(db, EventFields(title="Forgery night"))
        drop = await drops.create_drop(
            db, title="Tote bag", starts_at=utcnow() + timedelta(minutes=5), stock=3
        )
        async with db.transaction() as session:
            await session.execute(update(Drop).values(starts_at=utcnow() - timedelta(seconds=1)))
        victim = stage.emulator.user(VICTIM, "Vera")
        receipt = await claim(stage, victim, drop.id)
        attacker = stage.emulator.user(ATTACKER, "Mallory")
        stage.emulator.send_start(attacker)
        card = await stage.emulator.wait_for_message(ATTACKER, timeout=10)
        broadcast = await announcements.create(
            db, stage.bot.scheduler, text="Doors open", created_by="Olga", needs_confirmation=True
        )
        yield {
            "stage": stage,
            "attacker": attacker,
            "card": card,
            "receipt": receipt,
            "drop": drop,
            "other_drop": other_drop,
            "earlier": earlier,
            "broadcast": broadcast,
        }


def callback_bases(night) -> list[str]:
    drop, other, broadcast = night["drop"], night["other_drop"], night["broadcast"]
    return [
        "rc:k:1",
        f"bcast:confirm:{broadcast.id}",
        f"bcast:discard:{broadcast.id}",
        f"dr:c:{other.id}",
        f"dr:a:{drop.id}",
        f"dr:w:{other.id}",
        f"dr:m:{other.id}",
        f"dr:o:{other.id}",
        f"dr:r:{drop.id}",
        "menu:map",
    ]


def mutate_callback(data: str, rng: random.Random) -> str:
    """Change callback data: other ids, odd numbers, other actions, extra or missing fields."""
    prefix, *fields = data.split(":")
    choice = rng.randrange(6)
    if choice == 0 and fields:
        fields[-1] = str(rng.choice([0, 1, 2, 3, -1, 2**31, 2**63 - 1, 2**63, 10**30]))
    elif choice == 1 and fields:
        fields[0] = rng.choice(["k", "c", "a", "w", "m", "o", "r", "confirm", "discard", "x", ""])
    elif choice == 2:
        fields.append(rng.choice(["1", "", "k", "🔥"]))
    elif choice == 3 and fields:
        fields.pop()
    elif choice == 4:
        prefix = rng.choice(["rc", "bcast", "dr", "menu", "fg", "RC", ""])
    else:
        fields = [field + rng.choice(ALPHABET) for field in fields]
    return ":".join([prefix, *fields])[:64]


async def press_forged_callbacks(night, count: int, caplog) -> dict[str, object]:
    stage: Stage = night["stage"]
    attacker, card = night["attacker"], night["card"]
    rng = random.Random(count)
    # A modified client can also claim its press came from a message in the organiser group.
    group_message = stage.emulator.state.chats[ORGANISER_CHAT_ID].add_message(
        stage.emulator.bot_user("4242:x").to_api(), text="Press Confirm"
    )
    bases = callback_bases(night)
    caplog.set_level(logging.ERROR)

    for number in range(count):
        data = mutate_callback(rng.choice(bases), rng) if number >= len(bases) else bases[number]
        message = group_message if number % 2 else card
        stage.emulator.press_button(attacker, message, data)
        if number % 200 == 199:
            await stage.emulator.wait_for(lambda: not stage.emulator.updates.pending, timeout=180)
    await stage.emulator.wait_for(lambda: not stage.emulator.updates.pending, timeout=180)
    await stage.emulator.wait_for(lambda: stage.bot.in_flight.count == 0, timeout=180)

    async with stage.bot.db.transaction() as session:
        claims = (await session.execute(select(Claim.status, Claim.drop_id))).all()
        status = await session.scalar(
            select(Announcement.status).where(Announcement.id == night["broadcast"].id)
        )
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    return {"claims": claims, "broadcast": status.value, "errors": errors}


async def check_nothing_forged(night, count: int, caplog) -> None:
    outcome = await press_forged_callbacks(night, count, caplog)
    collected = [status.value for status, _ in outcome["claims"]].count("collected")
    foreign_claims = [drop for _, drop in outcome["claims"] if drop == night["other_drop"].id]
    broadcast_changed = outcome["broadcast"] != "awaiting_confirmation"

    record(
        "forged-callbacks",
        presses=count,
        accepted=collected + len(foreign_claims) + broadcast_changed,
        errors=len(outcome["errors"]),
        claims=len(outcome["claims"]),
    )
    assert collected == 0
    assert foreign_claims == []
    assert outcome["broadcast"] == "awaiting_confirmation"
    assert outcome["errors"] == []


async def test_forged_callbacks_change_nothing(night, caplog):
    await check_nothing_forged(night, 1_000, caplog)


@pytest.mark.long
async def test_ten_thousand_forged_callbacks_change_nothing(night, caplog):
    await check_nothing_forged(night, 10_000, caplog)


async def test_mutated_start_links_show_no_receipt(night):
    stage: Stage = night["stage"]
    attacker = night["attacker"]
    receipt_start = night["receipt"]["caption"]
    signed = start_payload(stage, links.LinkKind.RECEIPT, 1)
    rng = random.Random(7)
    before = len(stage.emulator.messages(ATTACKER))
    sent = 0

    while sent < 500:
        forged = mutate(signed, rng)
        if forged == signed or not links.PAYLOAD_RE.fullmatch(forged):
            continue
        stage.emulator.send_start(attacker, forged)
        sent += 1
    await stage.emulator.wait_for(lambda: not stage.emulator.updates.pending, timeout=180)
    await stage.emulator.wait_for(lambda: stage.bot.in_flight.count == 0, timeout=180)

    replies = stage.emulator.messages(ATTACKER)[before:]
    assert receipt_start
    assert [m for m in replies if "photo" in m] == []
    assert [m for m in replies if "belongs to someone else" in m.get("text", "")] == []
