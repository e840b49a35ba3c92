"""Drops end to end: the real bot over HTTP against the Bot API emulator."""

from __future__ import annotations

import io
from datetime import timedelta

import zxingcpp
from PIL import Image
from sqlalchemy import update

from bot import links
from bot.db.models import Drop
from bot.db.types import utcnow
from bot.services import drops, events
from bot.services.events import EventFields


async def live_drop(stage, title="Tote <bag>", stock=1):
    db = stage.bot.db
    await events.create_event(db, EventFields(title="Spring night"))
    drop = await drops.create_drop(
        db, title=title, starts_at=utcnow() + timedelta(minutes=5), stock=stock
    )
    async with db.transaction() as session:
        await session.execute(
            update(Drop)
            .where(Drop.id == drop.id)
            .values(starts_at=utcnow() - timedelta(seconds=1))
        )
    return drop


def payload(stage, kind, row_id):
    return links.encode(
        links.Link(kind, row_id), stage.bot.settings.signing_secret.get_secret_value()
    )


def button(message, prefix):
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for item in row:
            if item.get("callback_data", "").startswith(prefix):
                return item["callback_data"]
    return None


async def open_card(stage, user, drop_id):
    stage.emulator.send_start(user, payload(stage, links.LinkKind.DROP, drop_id))
    return await stage.emulator.wait_for_message(user.id, lambda m: button(m, "dr:c:"))


async def claim(stage, user, drop_id):
    card = await open_card(stage, user, drop_id)
    stage.emulator.press_button(user, card, button(card, "dr:c:"))
    return await stage.emulator.wait_for_message(user.id, lambda m: "photo" in m)


def qr_text(stage, photo_message):
    stored = stage.emulator.state.files.get(photo_message["photo"][-1]["file_id"])
    (result,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(stored.data)))
    return result.text


async def test_claim_sends_receipt_qr(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(101, "Ada")

    receipt = await claim(stage, ada, drop.id)

    url = qr_text(stage, receipt)
    start = url.split("start=")[1]
    assert url.startswith("https://t.me/micropop_bot?start=r")
    assert links.decode(start, stage.bot.settings.signing_secret.get_secret_value()).kind is (
        links.LinkKind.RECEIPT
    )
    assert "Tote &lt;bag&gt;" not in receipt["caption"]
    assert "Tote <bag>" in receipt["caption"]


async def test_claim_answer_and_sold_out_answer(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(101, "Ada")
    bob = stage.emulator.user(102, "Bob")
    card = await open_card(stage, bob, drop.id)
    await claim(stage, ada, drop.id)

    stage.emulator.press_button(bob, card, button(card, "dr:c:"))

    answers = await stage.emulator.wait_for(
        lambda: (
            [c.params.get("text", "") for c in stage.emulator.calls_to("answerCallbackQuery")]
            if len(stage.emulator.calls_to("answerCallbackQuery")) >= 2
            else None
        )
    )
    assert answers[0].startswith("Claimed!")
    assert answers[1].startswith("Sold out")


async def test_sold_out_posted_once_to_organisers(stage):
    drop = await live_drop(stage, stock=1)
    ada = stage.emulator.user(101, "Ada")

    await claim(stage, ada, drop.id)

    posted = await stage.emulator.wait_for_message(
        stage.organisers.id, lambda m: "sold out" in m.get("text", "")
    )
    assert "Tote &lt;bag&gt;" not in posted["text"]
    assert (
        len(
            [
                m
                for m in stage.emulator.messages(stage.organisers.id)
                if "sold out" in m.get("text", "")
            ]
        )
        == 1
    )


async def test_stock_board_pinned_in_organiser_group(stage):
    drop = await live_drop(stage, stock=3)
    ada = stage.emulator.user(101, "Ada")

    await claim(stage, ada, drop.id)

    await stage.emulator.wait_for(lambda: stage.emulator.calls_to("pinChatMessage"), timeout=8)
    board = await stage.emulator.wait_for_message(
        stage.organisers.id, lambda m: "2 of 3 left" in m.get("text", "")
    )
    assert board["chat"]["id"] == stage.organisers.id


async def test_receipt_link_shown_to_owner(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(101, "Ada")
    receipt = await claim(stage, ada, drop.id)
    start = qr_text(stage, receipt).split("start=")[1]

    stage.emulator.send_start(ada, start)

    await stage.emulator.wait_for(
        lambda: len([m for m in stage.emulator.messages(101) if "photo" in m]) == 2
    )


async def test_receipt_link_refused_to_stranger(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(101, "Ada")
    eve = stage.emulator.user(666, "Eve")
    receipt = await claim(stage, ada, drop.id)
    start = qr_text(stage, receipt).split("start=")[1]

    stage.emulator.send_start(eve, start)

    answer = await stage.emulator.wait_for_message(666)
    assert "someone else" in answer["text"]
    assert "Tote" not in answer["text"]


async def test_tampered_receipt_link_reveals_nothing(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(101, "Ada")
    receipt = await claim(stage, ada, drop.id)
    start = qr_text(stage, receipt).split("start=")[1]
    tampered = start[:-1] + ("A" if start[-1] != "A" else "B")

    stage.emulator.send_start(ada, tampered)

    refusal = await stage.emulator.wait_for_message(
        101, lambda m: "not valid" in m.get("text", "")
    )
    assert "Tote" not in refusal["text"]


async def test_organiser_marks_receipt_collected_once(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(101, "Ada")
    receipt = await claim(stage, ada, drop.id)
    start = qr_text(stage, receipt).split("start=")[1]
    olga = stage.organiser

    stage.emulator.send_start(olga, start)
    shown = await stage.emulator.wait_for_message(olga.id, lambda m: button(m, "rc:k:"))
    stage.emulator.press_button(olga, shown, button(shown, "rc:k:"))
    stage.emulator.press_button(olga, shown, button(shown, "rc:k:"))

    edited = await stage.emulator.wait_for_message(
        olga.id, lambda m: "Collected at" in m.get("text", "")
    )
    answers = await stage.emulator.wait_for(
        lambda: (
            [c.params.get("text") for c in stage.emulator.calls_to("answerCallbackQuery")][-2:]
            if len(stage.emulator.calls_to("answerCallbackQuery")) >= 3
            else None
        )
    )
    assert "Olga" in edited["text"]
    assert button(edited, "rc:k:") is None
    assert sorted(answers) == ["Already settled: nothing changed.", "Marked collected."]


async def test_stranger_cannot_mark_collected(stage):
    drop = await live_drop(stage)
    ada = stage.emulator.user(101, "Ada")
    receipt_message = await claim(stage, ada, drop.id)
    claim_id = links.decode(
        qr_text(stage, receipt_message).split("start=")[1],
        stage.bot.settings.signing_secret.get_secret_value(),
    ).id

    stage.emulator.press_button(ada, receipt_message, f"rc:k:{claim_id}")

    answer = await stage.emulator.wait_for(
        lambda: [
            c.params.get("text")
            for c in stage.emulator.calls_to("answerCallbackQuery")
            if "organisers" in (c.params.get("text") or "")
        ]
    )
    assert answer == ["Only organisers can do that."]


async def test_drops_command_lists_drop(stage):
    await live_drop(stage, title="Mug & Co")
    ada = stage.emulator.user(101, "Ada")
    stage.emulator.send_start(ada)
    await stage.emulator.wait_for_message(101)

    stage.emulator.send_text(ada, "/drops")

    listing = await stage.emulator.wait_for_message(
        101, lambda m: "Mug &amp; Co" in m.get("text", "") or "Mug & Co" in m.get("text", "")
    )
    assert button(listing, "dr:o:") is not None
