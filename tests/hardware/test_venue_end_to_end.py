"""The venue daemon against the whole bot service: beacons, printed QR codes and the bot.

The bot service runs for real against the local Bot API emulator. The daemon writes beacons
on the mock BlueZ and prints to a capture printer, and every QR code read back out of the
printed bytes is opened in the bot the way a phone that scanned it would open it.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from rig.bluez import GattLayout, MockBeacon, MockBluez
from rig.capture_printer import CapturePrinter
from rig.daemon_run import RunningDaemon, fast_config
from rig.escpos_parse import native_qr_payloads
from sqlalchemy import insert, select

from bot import links
from bot.db.models import Announcement, Attendee, HardwareEvent, PrintJob, PrintStatus
from bot.db.types import utcnow
from bot.rehearsal.stage import Stage
from bot.services import announcements, claims, drops, events
from bot.services.events import EventFields
from bot.services.receipts import ReceiptLinks
from hardware import eddystone
from hardware.beacons import NUS_RX_UUID, NUS_SERVICE_UUID

pytestmark = pytest.mark.bluez

VENUE_TOKEN = "main-hall-token-0123456789"
URL_BEACON = "AA:BB:CC:DD:EE:01"
TEXT_BEACON = "AA:BB:CC:DD:EE:02"
GUEST_ID = 7_100_000_001
EVENT_TITLE = "Night Market"
# The bot sends more per minute in these tests than Telegram's default group limits allow.
FAST_RATES = {"rate_private_per_s": 100.0, "rate_group_per_min": 6000.0}


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    async with Stage.on_sqlite(
        tmp_path,
        venue_tokens=f"main-hall:{VENUE_TOKEN}",
        public_base_url="https://popup.com",
        **FAST_RATES,
    ) as running:
        await events.create_event(running.bot.db, EventFields(title=EVENT_TITLE))
        yield running


@pytest.fixture
async def beacons(bluez: MockBluez) -> tuple[MockBeacon, MockBeacon]:
    url_layout = GattLayout(
        eddystone.CONFIG_SERVICE_UUID, ((eddystone.ADV_SLOT_DATA_UUID, ("write",)),)
    )
    text_layout = GattLayout(NUS_SERVICE_UUID, ((NUS_RX_UUID, ("write",)),))
    url_beacon = await bluez.add_beacon(URL_BEACON, [url_layout])
    text_beacon = await bluez.add_beacon(TEXT_BEACON, [text_layout])
    return url_beacon, text_beacon


@pytest.fixture
async def daemon(
    tmp_path: Path,
    stage: Stage,
    beacons: tuple[MockBeacon, MockBeacon],
    capture_printer: CapturePrinter,
) -> AsyncIterator[None]:
    config = fast_config(
        f"http://127.0.0.1:{stage.bot.web_port}",
        tmp_path,
        capture_printer.uri,
        f"{URL_BEACON}=eddystone,{TEXT_BEACON}=nus",
    )
    running = RunningDaemon(config)
    yield
    await running.shutdown()


def start_payload(deep_link: str) -> str:
    assert deep_link.startswith("https://t.me/micropop_bot?start=")
    [payload] = parse_qs(urlsplit(deep_link).query)["start"]
    return payload


async def written(bluez: MockBluez, char_path: str, timeout: float = 10.0) -> list[bytes]:
    async with asyncio.timeout(timeout):
        while not (values := await bluez.written_values(char_path)):
            await asyncio.sleep(0.05)
    return values


async def written_text(bluez: MockBluez, char_path: str, timeout: float = 10.0) -> bytes:
    """Return the text a display beacon got, once its last chunk (ending in a newline) is in."""
    async with asyncio.timeout(timeout):
        while not (text := b"".join(await bluez.written_values(char_path))).endswith(b"\n"):
            await asyncio.sleep(0.05)
    return text


async def print_status(stage: Stage, print_job_id: int) -> PrintStatus:
    async with stage.bot.db.transaction(readonly=True) as session:
        job = await session.get(PrintJob, print_job_id)
    assert job is not None
    return PrintStatus(job.status)


async def wait_printed(stage: Stage, print_job_id: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while await print_status(stage, print_job_id) != PrintStatus.PRINTED:
            await asyncio.sleep(0.05)


async def announce(stage: Stage, text: str) -> tuple[str, int]:
    """Announce now; return the announcement's short-link code and its slip's print job id."""
    view = await announcements.create(
        stage.bot.db, stage.bot.scheduler, text=text, created_by="test"
    )
    async with asyncio.timeout(10):
        while True:
            async with stage.bot.db.transaction(readonly=True) as session:
                code = await session.scalar(
                    select(Announcement.short_link_code).where(Announcement.id == view.id)
                )
                job = await session.scalar(
                    select(PrintJob.id).where(PrintJob.announcement_id == view.id)
                )
            if code and job:
                return code, job
            await asyncio.sleep(0.05)


async def test_announcement_reaches_beacons_slip_and_bot(
    stage: Stage,
    bluez: MockBluez,
    beacons: tuple[MockBeacon, MockBeacon],
    capture_printer: CapturePrinter,
    daemon: None,
) -> None:
    url_beacon, text_beacon = beacons
    code, slip_job = await announce(stage, "Doors open at 8 in Café Zürich")

    [frame] = await written(bluez, url_beacon.chars[eddystone.ADV_SLOT_DATA_UUID])
    assert frame == b"\x10\x03popup\x00l/" + code.encode()
    text = await written_text(bluez, text_beacon.chars[NUS_RX_UUID])
    assert text == "Doors open at 8 in Café Zürich\n".encode()

    [slip] = await capture_printer.wait_for_jobs(1)
    [slip_link] = native_qr_payloads(slip)
    assert b"Doors open at 8 in Caf\x82 Z\x81rich" in slip
    await wait_printed(stage, slip_job)

    # The beacon's short link and the slip's QR code open the same event, each with its source.
    event = await events.active_event(stage.bot.db)
    assert event is not None
    beacon_start = links.Link(links.LinkKind.EVENT, event.id, links.ArrivalSource.BEACON)
    slip_start = links.Link(links.LinkKind.EVENT, event.id, links.ArrivalSource.SLIP)
    assert start_payload(slip_link) == links.encode(slip_start, "")
    async with aiohttp.ClientSession() as session:
        short = f"http://127.0.0.1:{stage.bot.web_port}/l/{code}"
        async with session.get(short, allow_redirects=False) as response:
            assert response.status == 302
            assert start_payload(response.headers["Location"]) == links.encode(beacon_start, "")

    guest = stage.emulator.user(GUEST_ID, "Mia")
    stage.emulator.send_start(guest, start_payload(slip_link))
    card = await stage.emulator.wait_for_message(GUEST_ID)
    assert EVENT_TITLE in card["text"]
    assert "not valid" not in card["text"]
    async with stage.bot.db.transaction(readonly=True) as session:
        source = await session.scalar(
            select(Attendee.arrival_source).where(Attendee.telegram_user_id == GUEST_ID)
        )
    assert source == "sl"

    # The organisers' export lists the guest with the slip as the arrival source.
    assert stage.organisers is not None
    stage.organiser_says("/export")
    export = await stage.emulator.wait_for_message(
        stage.organisers.id, lambda message: "document" in message
    )
    data = stage.emulator.state.files.get(export["document"]["file_id"]).data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    guests = [row for row in rows if row["record"] == "attendee"]
    assert [row["telegram_user_id"] for row in guests] == [str(GUEST_ID)]
    assert [row["item"] for row in guests] == ["sl"]


async def test_claim_receipt_qr_opens_in_bot(
    stage: Stage, capture_printer: CapturePrinter, daemon: None
) -> None:
    db = stage.bot.db
    event = await events.active_event(db)
    assert event is not None
    async with db.transaction() as session:
        await session.execute(
            insert(Attendee),
            [{"event_id": event.id, "telegram_user_id": GUEST_ID, "chat_id": GUEST_ID}],
        )
    starts_at = utcnow() + timedelta(minutes=5)
    drop = await drops.create_drop(db, title="Tote bag", starts_at=starts_at, stock=3)
    secret = stage.bot.settings.signing_secret.get_secret_value()
    result = await claims.claim(
        db,
        drop_id=drop.id,
        telegram_user_id=GUEST_ID,
        request_key="press-1",
        receipt_links=ReceiptLinks(secret, "micropop_bot"),
        now=starts_at + timedelta(seconds=1),
    )
    assert result.claim is not None
    claim_code = result.claim.code

    [receipt] = await capture_printer.wait_for_jobs(1)
    [receipt_link] = native_qr_payloads(receipt)
    assert receipt_link == result.receipt_url
    assert f"Code: {claim_code}".encode() in receipt
    async with db.transaction(readonly=True) as session:
        job = await session.scalar(select(PrintJob.id).where(PrintJob.kind == "receipt"))
    assert job is not None
    await wait_printed(stage, job)

    # At the counter an organiser scans the receipt and the bot shows that claim.
    assert stage.organiser is not None
    stage.emulator.send_start(stage.organiser, start_payload(receipt_link))
    counter_view = await stage.emulator.wait_for_message(stage.organiser.id)
    assert claim_code in counter_view["text"]
    assert "Tote bag" in counter_view["text"]

    # Its owner scanning it gets the receipt's QR picture back.
    stage.emulator.send_start(stage.emulator.user(GUEST_ID, "Mia"), start_payload(receipt_link))
    photo = await stage.emulator.wait_for_message(GUEST_ID, lambda message: "photo" in message)
    assert claim_code in photo["caption"]


async def test_reprint_prints_slip_once_more(
    stage: Stage, capture_printer: CapturePrinter, daemon: None
) -> None:
    _, slip_job = await announce(stage, "Last call at the bar")
    [first] = await capture_printer.wait_for_jobs(1)
    await wait_printed(stage, slip_job)

    stage.organiser_says(f"/reprint {slip_job}")
    printed = await capture_printer.wait_for_jobs(2)
    async with stage.bot.db.transaction(readonly=True) as session:
        copy = await session.scalar(select(PrintJob.id).where(PrintJob.reprint_of == slip_job))
    assert copy is not None
    await wait_printed(stage, copy)
    await asyncio.sleep(0.5)

    assert len(capture_printer.complete_jobs) == 2
    assert printed[1] == first
    assert native_qr_payloads(printed[1]) == native_qr_payloads(first)


async def test_drop_going_live_reaches_venue(
    stage: Stage,
    bluez: MockBluez,
    beacons: tuple[MockBeacon, MockBeacon],
    capture_printer: CapturePrinter,
    daemon: None,
) -> None:
    _, text_beacon = beacons
    starts_at = utcnow() + timedelta(seconds=2)
    await drops.create_drop(
        stage.bot.db,
        title="Tote bag",
        starts_at=starts_at,
        stock=3,
        scheduler=stage.bot.scheduler,
        reminder_minutes=(),
    )

    text = await written_text(bluez, text_beacon.chars[NUS_RX_UUID], timeout=15)
    assert text == drops.live_text("Tote bag").encode() + b"\n"
    [slip] = await capture_printer.wait_for_jobs(1)
    assert b"Tote bag is live now" in slip
    async with stage.bot.db.transaction(readonly=True) as session:
        feed = (await session.scalars(select(HardwareEvent))).all()
    assert [event.kind for event in feed] == ["drop_live"]
    assert feed[0].payload["title"] == "Tote bag"
    assert feed[0].payload["starts_at"] == starts_at.isoformat()


async def test_poster_qr_opens_drop_in_bot(
    stage: Stage, capture_printer: CapturePrinter, daemon: None
) -> None:
    db = stage.bot.db
    starts_at = utcnow() + timedelta(hours=2)
    drop = await drops.create_drop(db, title="Tote bag", starts_at=starts_at, stock=3)

    stage.organiser_says(f"/poster {drop.id}")

    [poster] = await capture_printer.wait_for_jobs(1)
    [poster_link] = native_qr_payloads(poster)
    drop_link = links.Link(links.LinkKind.DROP, drop.id, links.ArrivalSource.POSTER)
    assert start_payload(poster_link) == links.encode(drop_link, "")
    assert b"Tote bag" in poster
    assert b"Drop opens at" in poster
    assert f"{starts_at:%H:%M}".encode() in poster
    async with db.transaction(readonly=True) as session:
        job = await session.scalar(select(PrintJob.id).where(PrintJob.kind == "poster"))
        feed = (await session.scalars(select(HardwareEvent))).all()
    assert job is not None
    assert [event.kind for event in feed] == ["poster"]
    await wait_printed(stage, job)

    # A guest who scans the poster joins the event and gets the drop's card.
    stage.emulator.send_start(stage.emulator.user(GUEST_ID, "Mia"), start_payload(poster_link))
    card = await stage.emulator.wait_for_message(
        GUEST_ID, lambda message: message["text"].startswith("Tote bag")
    )
    assert "Starts in" in card["text"]
    welcome = await stage.emulator.wait_for_message(GUEST_ID)
    assert EVENT_TITLE in welcome["text"]
    assert "not valid" not in welcome["text"]
    async with db.transaction(readonly=True) as session:
        source = await session.scalar(
            select(Attendee.arrival_source).where(Attendee.telegram_user_id == GUEST_ID)
        )
    assert source == "po"
