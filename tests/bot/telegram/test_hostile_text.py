"""Hostile names, titles and texts through every message that shows them, end to end.

Each corpus entry (tests/data/hostile_text.json) is used as a display name, an event title, a
venue, a point of interest, a drop and an announcement. The Bot API emulator parses every sent
message as Telegram would and stores its plain text, so a test can check both that nothing
failed to parse and that the text reads exactly as it was given.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot import links
from bot.db.models import Drop
from bot.db.types import utcnow
from bot.rehearsal.stage import Stage
from bot.services import announcements, drops, events
from bot.services.events import EventFields
from bot.services.exports import FORMULA_PREFIXES
from bot.telegram.hold_notices import run_hold_expiry
from bot.telegram.organiser_texts import preview
from bot.telegram.routers.organiser import AUDIT_ENTRIES_SHOWN
from bot.textsplit import utf16_len
from tests.bot.telegram.stage_helpers import button, start_payload
from tests.figures import record

CORPUS_FILE = Path(__file__).parents[2] / "data" / "hostile_text.json"
FAST_RATES = {"rate_global_per_s": 1000.0, "rate_private_per_s": 1000.0}
CONSOLE_RATES = FAST_RATES | {"rate_group_per_min": 60000.0}
FIRST_GUEST = 7_600_000_000
# Telegram keeps first and last names to 64 characters each.
NAME_LIMIT = 64
TITLE_LIMIT = 200
# Only text this long may be cut across two messages by the splitter.
SPLITTABLE = 1000


@dataclass(frozen=True)
class Hostile:
    kind: str
    text: str

    @property
    def title(self) -> str | None:
        """The text as a title, or None when the services reject it as one."""
        stripped = self.text.strip()
        return stripped if 0 < len(stripped) <= TITLE_LIMIT else None


def load_corpus() -> list[Hostile]:
    entries = json.loads(CORPUS_FILE.read_text(encoding="utf-8"))["entries"]
    corpus = []
    for entry in entries:
        text = entry.get("text")
        if text is None:
            text = entry["prefix"] + entry["repeat"] * entry["times"] + entry["suffix"]
        corpus.append(Hostile(entry["kind"], text))
    return corpus


CORPUS = load_corpus()


def squash(text: str) -> str:
    return "".join(text.split())


def missing_from(expected: str, texts: list[str]) -> bool:
    """Return True unless `expected` reads exactly in one message, or is long and was split."""
    if any(expected in text for text in texts):
        return False
    split_ok = len(expected) > SPLITTABLE and squash(expected) in squash("".join(texts))
    return not split_ok


def report(
    surface: str, stage: Stage, checks: int, wrong: list, entries: int = len(CORPUS)
) -> None:
    """Record a surface's figures. `entries` is the number of corpus entries it was given."""
    record(
        "hostile-text",
        surface=surface,
        entries=entries,
        checks=checks,
        not_exact=len(wrong),
        rejected_calls=len(failed_calls(stage)),
    )


def failed_calls(stage: Stage) -> list[str]:
    """Describe every Bot API call that Telegram would have rejected, such as a parse error."""
    return [
        f"{call.method}: {call.response.get('description') if call.response else call.status}"
        for call in stage.emulator.calls
        if call.status != 200 and call.method != "getUpdates"
    ]


def texts_of(messages: list[dict]) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in messages]


def guest(stage: Stage, index: int, entry: Hostile):
    name = entry.text[:NAME_LIMIT]
    return stage.emulator.user(FIRST_GUEST + index, name if name.strip() else "Guest")


async def handled(stage: Stage, chat_id: int, at_least: int) -> list[dict]:
    """Wait until the bot sent `at_least` messages to the chat and finished handling updates."""
    await stage.emulator.wait_for(
        lambda: len(stage.emulator.messages(chat_id)) >= at_least, timeout=30
    )
    await stage.emulator.wait_for(lambda: stage.bot.in_flight.count == 0, timeout=30)
    return stage.emulator.messages(chat_id)


@pytest.fixture
async def hostile_stage(tmp_path):
    async with Stage.on_sqlite(tmp_path, **CONSOLE_RATES) as stage:
        yield stage


def test_corpus_covers_every_kind():
    kinds = {entry.kind for entry in CORPUS}

    assert len(CORPUS) >= 200
    assert kinds >= {"html", "ampersand", "markdown", "rtl", "zero_width", "emoji", "long"}
    assert max(utf16_len(entry.text) for entry in CORPUS) >= 4096


async def test_event_card_shows_names_and_titles_exactly(hostile_stage):
    stage = hostile_stage
    await events.create_event(stage.bot.db, EventFields(title="Hostile night"))
    wrong = []
    checks = 0

    for index, entry in enumerate(CORPUS):
        venue = entry.text[:TITLE_LIMIT].strip() or "Hall"
        fields = EventFields(title=entry.title or "Hostile night", venue_name=venue)
        event = await events.update_event(stage.bot.db, fields)
        user = guest(stage, index, entry)
        stage.emulator.send_start(user)
        card = await stage.emulator.wait_for_message(user.id, timeout=10)
        for expected in (user.first_name, event.title, event.venue_name):
            checks += 1
            if missing_from(expected, texts_of([card])):
                wrong.append((entry.kind, expected[:40]))

    report("event card", stage, checks, wrong)
    assert failed_calls(stage) == []
    assert wrong == []


async def test_map_shows_venue_and_points_exactly(hostile_stage):
    stage = hostile_stage
    db = stage.bot.db
    await events.create_event(stage.bot.db, EventFields(title="Hostile night"))
    user = stage.emulator.user(FIRST_GUEST, "Ada")
    wrong = []
    checks = 0

    for index, entry in enumerate(CORPUS):
        located = index % 2 == 0
        fields = EventFields(
            venue_name=entry.text[:TITLE_LIMIT].strip() or "Hall",
            venue_address=entry.text[:400].strip() or "Street 1",
            latitude=52.52 if located else None,
            longitude=13.40 if located else None,
        )
        event = await events.update_event(db, fields)
        point = await events.add_point(db, entry.text[:TITLE_LIMIT] or "Bar", entry.text)
        before = len(stage.emulator.messages(user.id))
        stage.emulator.send_text(user, "/map")
        # No map picture: a notice, then the venue and its points, or one text without a place.
        sent = (await handled(stage, user.id, before + (3 if located else 2)))[before:]
        await events.remove_point(db, point.id)

        venues = [m["venue"] for m in sent if "venue" in m]
        shown = texts_of(sent) + [v["title"] for v in venues] + [v["address"] for v in venues]
        for expected in (event.venue_name, event.venue_address, point.name, point.description):
            checks += 1
            if missing_from(expected, shown):
                wrong.append((entry.kind, expected[:40]))

    report("map and venue", stage, checks, wrong)
    assert failed_calls(stage) == []
    assert wrong == []


async def make_live(stage: Stage, drop_id: int) -> None:
    async with stage.bot.db.transaction() as session:
        await session.execute(
            update(Drop)
            .where(Drop.id == drop_id)
            .values(starts_at=utcnow() - timedelta(seconds=1))
        )


async def test_drops_and_receipts_show_text_exactly(hostile_stage):
    stage = hostile_stage
    db = stage.bot.db
    event = await events.create_event(db, EventFields(title="Hostile night"))
    wrong = []
    checked = 0

    for index, entry in enumerate(CORPUS):
        if entry.title is not None and event.title != entry.title:
            event = await events.update_event(db, EventFields(title=entry.title))
        description = entry.text if len(entry.text.strip()) <= drops.MAX_DESCRIPTION else ""
        drop = await drops.create_drop(
            db,
            title=entry.title or "Tote bag",
            description=description,
            starts_at=utcnow() + timedelta(minutes=5),
            stock=1,
        )
        await make_live(stage, drop.id)
        user = guest(stage, index, entry)

        stage.emulator.send_start(user, start_payload(stage, links.LinkKind.DROP, drop.id))
        card = await stage.emulator.wait_for_message(
            user.id, lambda m: button(m, "dr:c:"), timeout=20
        )
        stage.emulator.press_button(user, card, button(card, "dr:c:"))
        receipt = await stage.emulator.wait_for_message(
            user.id, lambda m: "photo" in m, timeout=20
        )
        stage.emulator.send_text(user, "/drops")
        listing = await stage.emulator.wait_for_message(
            user.id, lambda m: m.get("text", "").startswith("Drops at")
        )
        # The organiser scans the receipt's QR code: the view names its owner.
        before = len(stage.emulator.messages(stage.organiser.id))
        stage.emulator.send_start(stage.organiser, receipt_payload(stage, receipt))
        scanned = (await handled(stage, stage.organiser.id, before + 1))[-1]
        await drops.cancel_drop(db, drop.id)

        shown_in = [
            (drop.title, [card]),
            (drop.description, [card]),
            (drop.title, [receipt]),
            (event.title, [receipt]),
            (drop.title, [listing]),
            (user.first_name, [scanned]),
            (drop.title, [scanned]),
        ]
        for expected, messages in shown_in:
            checked += 1
            if missing_from(expected, texts_of(messages)):
                wrong.append((entry.kind, expected[:40]))

    report("drop cards, lists and receipts", stage, checked, wrong)
    assert failed_calls(stage) == []
    assert wrong == []


def receipt_payload(stage: Stage, receipt: dict) -> str:
    """Return the signed start payload of the receipt link in a receipt photo's QR code."""
    import zxingcpp
    from PIL import Image

    stored = stage.emulator.state.files.get(receipt["photo"][-1]["file_id"])
    (result,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(stored.data)))
    return result.text.split("start=")[1]


async def test_console_reports_show_titles_exactly(hostile_stage):
    stage = hostile_stage
    db = stage.bot.db
    event = await events.create_event(db, EventFields(title="Hostile night"))
    titles = [entry.title for entry in CORPUS if entry.title is not None]
    for title in titles:
        await drops.create_drop(db, title=title, starts_at=utcnow() + timedelta(hours=1), stock=5)
    texts = [entry.text for entry in CORPUS]
    for text in texts:
        await announcements.create(
            db,
            stage.bot.scheduler,
            text=text,
            created_by="Olga",
            scheduled_for=utcnow() + timedelta(hours=2),
        )

    stats = await console_reply(stage, "/stats")
    queue = await console_reply(stage, "/queue")

    hidden_titles = [title[:40] for title in titles if missing_from(title, stats)]
    hidden_previews = [text[:40] for text in texts if missing_from(shown_preview(text), queue)]
    report("/stats and /queue", stage, len(titles) + len(texts), hidden_titles + hidden_previews)
    assert event.title in stats[0]
    assert failed_calls(stage) == []
    assert hidden_titles == []
    assert hidden_previews == []


async def test_console_lists_show_names_exactly(hostile_stage):
    stage = hostile_stage
    db = stage.bot.db
    await events.create_event(db, EventFields(title="Hostile night"))
    titles = [entry.title for entry in CORPUS if entry.title is not None]
    for title in titles:
        await drops.create_drop(db, title=title, starts_at=utcnow() + timedelta(hours=1), stock=5)
    points = []
    for entry in CORPUS:
        point = await events.add_point(db, entry.text[:TITLE_LIMIT] or "Bar", entry.text)
        points += [point.name, point.description]

    listed = await console_reply(stage, "/listdrops")
    described = await console_reply(stage, "/pois")

    hidden_titles = [title[:40] for title in titles if missing_from(title, listed)]
    hidden_points = [text[:40] for text in points if text and missing_from(text, described)]
    report("/listdrops and /pois", stage, len(titles) + len(points), hidden_titles + hidden_points)
    assert failed_calls(stage) == []
    assert hidden_titles == []
    assert hidden_points == []


def shown_preview(text: str) -> str:
    """Return the queue's preview of a text as Telegram shows it, after parsing the HTML."""
    import html

    return html.unescape(preview(text.strip()))


async def console_reply(stage: Stage, command: str) -> list[str]:
    """Send a console command and return the texts of every reply part once handled."""
    organisers = stage.organisers.id
    before = len(stage.emulator.messages(organisers))
    stage.organiser_says(command)
    # A reply that Telegram rejects never arrives, and the test reports the failed call instead.
    await stage.emulator.wait_for(
        lambda: len(stage.emulator.messages(organisers)) > before or failed_calls(stage),
        timeout=20,
    )
    await stage.emulator.wait_for(lambda: stage.bot.in_flight.count == 0, timeout=30)
    bot_id = stage.bot.bot.id
    return texts_of(
        [
            m
            for m in stage.emulator.messages(organisers)[before:]
            if m.get("from", {}).get("id") == bot_id
        ]
    )


async def test_export_keeps_names_and_titles_exactly(hostile_stage):
    stage = hostile_stage
    db = stage.bot.db
    await events.create_event(db, EventFields(title="Hostile night"))
    drop = await drops.create_drop(
        db, title="Tote bag", starts_at=utcnow() + timedelta(minutes=5), stock=len(CORPUS)
    )
    await make_live(stage, drop.id)
    names = []
    for index, entry in enumerate(CORPUS):
        user = guest(stage, index, entry)
        names.append(user.first_name)
        stage.emulator.send_start(user)
        await stage.emulator.wait_for_message(user.id, timeout=10)

    before = len(stage.emulator.messages(stage.organisers.id))
    stage.organiser_says("/export")
    await stage.emulator.wait_for(
        lambda: any(
            "document" in m for m in stage.emulator.messages(stage.organisers.id)[before:]
        ),
        timeout=20,
    )
    document = next(
        m["document"]
        for m in stage.emulator.messages(stage.organisers.id)[before:]
        if "document" in m
    )
    data = stage.emulator.state.files.get(document["file_id"]).data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    exported = {row["attendee"] for row in rows if row["record"] == "attendee"}
    # Cells that a spreadsheet would run as a formula are exported behind a quote.
    expected = ["'" + name if name.startswith(FORMULA_PREFIXES) else name for name in names]
    missing = [name[:40] for name in expected if name not in exported]

    report("/export", stage, len(expected), missing)
    assert failed_calls(stage) == []
    assert missing == []


async def test_announcements_arrive_exactly(hostile_stage):
    stage = hostile_stage
    db = stage.bot.db
    await events.create_event(db, EventFields(title="Hostile night"))
    user = stage.emulator.user(FIRST_GUEST, "Ada")
    stage.emulator.send_start(user)
    await stage.emulator.wait_for_message(user.id, timeout=10)
    wrong = []
    checks = 0

    for entry in CORPUS:
        if not entry.text.strip():
            continue
        before = len(stage.emulator.messages(user.id))
        command = f"/announce {entry.text}"
        if utf16_len(command) <= 4096:
            stage.organiser_says(command)
        else:
            # A Telegram message carries 4096 characters at most; longer text comes from code.
            await announcements.create(db, stage.bot.scheduler, text=entry.text, created_by="t")
        parts = -(-utf16_len(entry.text.strip()) // 4096)
        sent = texts_of((await handled(stage, user.id, before + parts))[before:])
        checks += 1
        if missing_from(entry.text.strip(), sent):
            wrong.append((entry.kind, entry.text[:40]))

    report("announcements", stage, checks, wrong)
    assert failed_calls(stage) == []
    assert wrong == []


async def test_audit_shows_names_and_commands_exactly(hostile_stage):
    stage = hostile_stage
    await events.create_event(stage.bot.db, EventFields(title="Hostile night"))
    wrong = []
    checks = 0
    # /audit lists the newest AUDIT_ENTRIES_SHOWN entries, which are a batch of rejected
    # commands and the previous /audit.
    batch = AUDIT_ENTRIES_SHOWN - 1

    for first in range(0, len(CORPUS), batch):
        expected = []
        for index in range(first, min(first + batch, len(CORPUS))):
            entry = CORPUS[index]
            user = guest(stage, index, entry)
            # An attendee's organiser command is rejected and audited with their name and text.
            # A Telegram message carries 4096 UTF-16 code units at most, so the text is cut.
            command = "/stats " + entry.text[:2000]
            stage.emulator.send_text(user, command)
            await handled(stage, user.id, 1)
            # Each audit line reads "<time> <name>: /<command> <result> - <text preview>".
            expected.append(f"{user.first_name}: /stats rejected - {shown_preview(command)}")
        listing = await console_reply(stage, "/audit")
        for text in expected:
            checks += 1
            if missing_from(text, listing):
                wrong.append(text[:40])

    report("/audit", stage, checks, wrong)
    assert failed_calls(stage) == []
    assert wrong == []


def organiser_texts_from_bot(stage: Stage) -> list[str]:
    bot_id = stage.bot.bot.id
    return texts_of(
        [
            m
            for m in stage.emulator.messages(stage.organisers.id)
            if m.get("from", {}).get("id") == bot_id
        ]
    )


async def test_stock_board_and_hold_notices_show_titles_exactly(hostile_stage):
    stage = hostile_stage
    db = stage.bot.db
    await events.create_event(db, EventFields(title="Hostile night"))
    # Each sampled title needs a drop, a claim and a waiting-list entry, so the test takes every
    # second title (127 drops), which still covers every kind of entry that fits a title.
    sampled = [entry for entry in CORPUS if entry.title is not None][::2]
    placed = {}

    for index, entry in enumerate(sampled):
        # The holds last an hour, so only the explicit expiry runs below release them.
        drop = await drops.create_drop(
            db,
            title=entry.title,
            starts_at=utcnow() + timedelta(minutes=5),
            stock=1,
            hold_minutes=60,
            waitlist=True,
        )
        await make_live(stage, drop.id)
        holder = guest(stage, 2 * index, entry)
        waiter = stage.emulator.user(FIRST_GUEST + 2 * index + 1, "Bob")
        for user in (holder, waiter):
            stage.emulator.send_start(user)
            await stage.emulator.wait_for_message(user.id, timeout=10)

        stage.emulator.send_start(holder, start_payload(stage, links.LinkKind.DROP, drop.id))
        card = await stage.emulator.wait_for_message(
            holder.id, lambda m: button(m, "dr:c:"), timeout=20
        )
        stage.emulator.press_button(holder, card, button(card, "dr:c:"))
        await stage.emulator.wait_for_message(holder.id, lambda m: "photo" in m, timeout=20)
        stage.emulator.send_start(waiter, start_payload(stage, links.LinkKind.DROP, drop.id))
        sold_out = await stage.emulator.wait_for_message(
            waiter.id, lambda m: button(m, "dr:w:"), timeout=20
        )
        stage.emulator.press_button(waiter, sold_out, button(sold_out, "dr:w:"))
        placed[drop.id] = (drop.title, holder.id, waiter.id)
        answers = 2 * (index + 1)
        await stage.emulator.wait_for(
            lambda count=answers: len(stage.emulator.calls_to("answerCallbackQuery")) == count,
            timeout=20,
        )

    # The stock board and the sold-out notice are sent by tasks after each claim.
    def organiser_posts(marker: str) -> list[str]:
        return [text for text in organiser_texts_from_bot(stage) if marker in text]

    await stage.emulator.wait_for(
        lambda: (
            (
                len(organiser_posts("📦")) == len(placed)
                and len(organiser_posts(" sold out: ")) == len(placed)
            )
            or failed_calls(stage)
        ),
        timeout=30,
    )
    # The first run releases every hold and offers the units to the waiting list, and the
    # second one expires the offers.
    released = await run_hold_expiry(stage.bot.bot, stage.bot.ctx, utcnow() + timedelta(hours=1))
    expired = await run_hold_expiry(stage.bot.bot, stage.bot.ctx, utcnow() + timedelta(hours=3))
    await stage.emulator.wait_for(lambda: stage.bot.in_flight.count == 0, timeout=30)

    board = stage.emulator.state.chats[stage.organisers.id]
    sold_out_notices = organiser_posts(" sold out: ")
    wrong = []
    checks = 0
    for drop_id, (title, holder_id, waiter_id) in placed.items():
        drop = await drops.get_drop(db, drop_id)
        holder_notices = texts_of(stage.emulator.messages(holder_id))
        waiter_notices = texts_of(stage.emulator.messages(waiter_id))
        shown_in = [
            (f"📦 {title}\n", texts_of([board.messages.get(drop.status_message_id, {})])),
            (f"🔥 {title} sold out: ", sold_out_notices),
            (f"for {title} was not collected in time", holder_notices),
            (f"🎁 A unit of {title} is free for you", waiter_notices),
            (f"Your offer for {title} expired", waiter_notices),
        ]
        for expected, shown in shown_in:
            checks += 1
            if missing_from(expected, shown):
                wrong.append(expected[:40])
        if drop.status_message_id not in board.pinned:
            wrong.append(f"board of drop {drop_id} not pinned")

    report("stock board, sold-out notice, hold notices", stage, checks, wrong, len(sampled))
    assert failed_calls(stage) == []
    assert wrong == []
    assert len(released.released) == len(placed)
    assert len(released.offers) == len(placed)
    assert len(expired.expired_offers) == len(placed)


async def test_drop_reminders_show_titles_exactly(hostile_stage):
    stage = hostile_stage
    db = stage.bot.db
    await events.create_event(db, EventFields(title="Hostile night"))
    user = stage.emulator.user(FIRST_GUEST, "Ada")
    stage.emulator.send_start(user)
    await stage.emulator.wait_for_message(user.id, timeout=10)
    # Each title goes through one reminder, T-30, T-10, T-1 and live now in turn. A drop that
    # starts `minutes` and 3 seconds from now sends that reminder 3 seconds from now.
    offsets = (30, 10, 1, 0)
    expected = []

    for index, entry in enumerate(e for e in CORPUS if e.title is not None):
        minutes = offsets[index % len(offsets)]
        drop = await drops.create_drop(
            db,
            title=entry.title,
            starts_at=utcnow() + timedelta(minutes=minutes, seconds=3),
            stock=5,
            scheduler=stage.bot.scheduler,
        )
        if minutes:
            expected.append(f"⏰ {drop.title} drops in {minutes} min.")
        else:
            expected.append(f"🔥 {drop.title} is live now!")

    sent = await handled(stage, user.id, 1 + len(expected))
    texts = texts_of(sent[1:])
    wrong = [text[:40] for text in expected if missing_from(text, texts)]

    report(
        "drop reminders (T-30, T-10, T-1, live now)", stage, len(expected), wrong, len(expected)
    )
    assert failed_calls(stage) == []
    assert wrong == []
