"""Tests of printer URIs and whole-job sending over TCP to a capture printer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from rig.capture_printer import CapturePrinter
from rig.escpos_parse import decode_qr_images, native_qr_payloads, raster_images

from hardware.errors import ConfigError, PrinterError
from hardware.layouts import announcement_slip, claim_receipt
from hardware.printing import STATUS_REQUEST, open_printer, parse_printer_uri
from hardware.rendering import render_escpos

RECEIPT_LINK = "https://t.me/micropop_bot?start=r1f-rc_AbCdEfGh1234"


def receipt(item: str = "Tote bag") -> object:
    claimed = datetime(2026, 5, 1, 19, 30, tzinfo=UTC)
    return claim_receipt("Night Market", item, "K7Q2", claimed, RECEIPT_LINK, "Europe/Berlin")


def test_tcp_uri_defaults_to_port_9100() -> None:
    target = parse_printer_uri("tcp://127.0.0.1")
    assert target.port == 9100
    assert target.confirm is True


def test_serial_uri_reads_baudrate() -> None:
    target = parse_printer_uri("serial:///dev/ttyUSB0?baudrate=19200")
    assert target.path == "/dev/ttyUSB0"
    assert target.baudrate == 19200


def test_usb_uri_reads_hex_ids() -> None:
    target = parse_printer_uri("usb://04b8:0202")
    assert (target.vendor_id, target.product_id) == (0x04B8, 0x0202)


def test_file_uri_keeps_device_path() -> None:
    assert parse_printer_uri("file:///dev/usb/lp0").path == "/dev/usb/lp0"


def test_unknown_scheme_names_examples() -> None:
    with pytest.raises(ConfigError, match="tcp://"):
        parse_printer_uri("lpd://printer")


def test_unknown_profile_is_rejected() -> None:
    with pytest.raises(ConfigError, match="profile"):
        parse_printer_uri("tcp://127.0.0.1?profile=NoSuchPrinter")


def test_bad_usb_ids_are_rejected() -> None:
    with pytest.raises(ConfigError, match="usb://VID:PID"):
        parse_printer_uri("usb://epson")


async def test_native_qr_carries_receipt_link(capture_printer: CapturePrinter) -> None:
    printer = open_printer(capture_printer.uri)
    await printer.print_layout(receipt(), job_ref="1")
    [data] = await capture_printer.wait_for_jobs(1)
    assert native_qr_payloads(data) == [RECEIPT_LINK]


async def test_captured_bytes_match_dummy_render(capture_printer: CapturePrinter) -> None:
    printer = open_printer(capture_printer.uri)
    await printer.print_layout(receipt(), job_ref="1")
    [data] = await capture_printer.wait_for_jobs(1)
    assert data == render_escpos(receipt()) + STATUS_REQUEST


async def test_image_qr_decodes_to_link(capture_printer: CapturePrinter) -> None:
    printer = open_printer(capture_printer.uri + "?qr=image")
    await printer.print_layout(receipt(), job_ref="1")
    [data] = await capture_printer.wait_for_jobs(1)
    assert native_qr_payloads(data) == []
    assert decode_qr_images(raster_images(data)) == [RECEIPT_LINK]


async def test_profile_without_qr_prints_image(capture_printer: CapturePrinter) -> None:
    printer = open_printer(capture_printer.uri + "?profile=simple")
    await printer.print_layout(receipt(), job_ref="1")
    [data] = await capture_printer.wait_for_jobs(1)
    assert decode_qr_images(raster_images(data)) == [RECEIPT_LINK]


async def test_accented_and_emoji_text_prints(capture_printer: CapturePrinter) -> None:
    printer = open_printer(capture_printer.uri)
    await printer.print_layout(receipt("Café Zürich tote 😀 łódź"), job_ref="1")
    [data] = await capture_printer.wait_for_jobs(1)
    assert b"Caf\x82" in data
    assert b"tote ?" in data


def test_control_characters_never_reach_printer() -> None:
    data = render_escpos(announcement_slip("Night", "cut\x1dV\x00 now", RECEIPT_LINK))
    assert b"cut\x1dV" not in data


async def test_refused_connection_raises(capture_printer: CapturePrinter) -> None:
    await capture_printer.refuse()
    printer = open_printer(capture_printer.uri)
    with pytest.raises(PrinterError, match="DeviceNotFoundError"):
        await printer.print_layout(receipt(), job_ref="1")


async def test_reset_connection_raises(capture_printer: CapturePrinter) -> None:
    capture_printer.plan("reset")
    printer = open_printer(capture_printer.uri)
    with pytest.raises(PrinterError):
        await printer.print_layout(receipt(), job_ref="1")


async def test_close_mid_job_raises(capture_printer: CapturePrinter) -> None:
    capture_printer.plan("close_after", limit=200)
    printer = open_printer(capture_printer.uri)
    with pytest.raises(PrinterError):
        await printer.print_layout(receipt(), job_ref="1")
    assert capture_printer.complete_jobs == []


async def test_stalled_printer_times_out(capture_printer: CapturePrinter) -> None:
    capture_printer.plan("stall")
    printer = open_printer(capture_printer.uri + "?timeout=0.5")
    with pytest.raises(PrinterError, match="TimeoutError"):
        await printer.print_layout(receipt(), job_ref="1")


async def test_offline_status_raises(capture_printer: CapturePrinter) -> None:
    capture_printer.plan("offline")
    printer = open_printer(capture_printer.uri)
    with pytest.raises(PrinterError, match="offline"):
        await printer.print_layout(receipt(), job_ref="1")


async def test_preview_png_decodes_to_link(tmp_path: Path) -> None:
    printer = open_printer(f"preview://{tmp_path}")
    await printer.print_layout(receipt("Café 😀"), job_ref="7")
    image = Image.open(tmp_path / "7-receipt.png")
    assert [result.text for result in zxingcpp.read_barcodes(image)] == [RECEIPT_LINK]


async def test_preview_into_unwritable_path_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    printer = open_printer(f"preview://{blocker}")
    with pytest.raises(PrinterError, match="could not be written"):
        await printer.print_layout(receipt(), job_ref="7")
