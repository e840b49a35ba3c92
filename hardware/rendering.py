"""Render a layout as ESC/POS bytes for a printer profile, or as a PNG preview image."""

from __future__ import annotations

import io
import logging
import re
import textwrap
import unicodedata
from pathlib import Path

import escpos.exceptions
import qrcode
from escpos.constants import QR_ECLEVEL_M
from escpos.image import EscposImage
from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageFont

from hardware.layouts import QR, Layout, Rule, Text

logger = logging.getLogger(__name__)

DEFAULT_PROFILE = "TM-T88V"

# Columns of font A for a profile without that field: 42 is common on 80 mm paper.
FALLBACK_COLUMNS = 42

# ESC/POS size multipliers per layout size: (width, height).
_SIZES = {"normal": (1, 1), "large": (2, 2), "huge": (3, 3)}

# Control characters would be sent to the printer as commands, so user text loses them.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")

# Preview paper: 576 dots is 72 mm of print width at 203 dpi, the usual 80 mm printer.
PREVIEW_WIDTH = 576
_PREVIEW_MARGIN = 16
_PREVIEW_FONT_SIZES = {"normal": 22, "large": 36, "huge": 64}
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)


def clean_text(text: str) -> str:
    """Normalise text to NFC and drop control characters other than newlines."""
    return _CONTROL.sub(" ", unicodedata.normalize("NFC", text))


def render_escpos(
    layout: Layout, profile: str = DEFAULT_PROFILE, native_qr: bool | None = None
) -> bytes:
    """Build the complete ESC/POS byte stream of a layout, ending with a cut.

    Text goes through python-escpos's code page selection, so characters that no code page
    of the profile contains (emoji, most non-Latin scripts on Western printers) print as "?".
    A QR code is native (`GS ( k`) when `native_qr` is true, or when it is None and the profile
    lists the qrCode feature; otherwise it is a raster image (`GS v 0`).
    """
    printer = Dummy(profile=profile)
    use_native = printer.profile.supports("qrCode") if native_qr is None else native_qr
    columns = _columns(printer)
    printer.hw("INIT")
    for block in layout.blocks:
        if isinstance(block, Text):
            _write_text(printer, block, columns)
        elif isinstance(block, QR):
            _write_qr(printer, block, use_native)
        elif isinstance(block, Rule):
            printer.set_with_default()
            printer.textln("-" * columns)
    printer.set_with_default()
    printer.cut()
    return bytes(printer.output)


def render_png(layout: Layout) -> bytes:
    """Draw a layout the way a receipt printer would, as PNG bytes."""
    parts: list[Image.Image] = []
    for block in layout.blocks:
        if isinstance(block, Text):
            parts.append(_text_image(block))
        elif isinstance(block, QR):
            parts.append(_qr_image(block))
        elif isinstance(block, Rule):
            rule = Image.new("L", (PREVIEW_WIDTH, 12), 255)
            ImageDraw.Draw(rule).line((_PREVIEW_MARGIN, 6, PREVIEW_WIDTH - _PREVIEW_MARGIN, 6))
            parts.append(rule)

    height = sum(part.height for part in parts) + 2 * _PREVIEW_MARGIN
    page = Image.new("L", (PREVIEW_WIDTH, height), 255)
    top = _PREVIEW_MARGIN
    for part in parts:
        page.paste(part, (0, top))
        top += part.height
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def _columns(printer: Dummy) -> int:
    try:
        return int(printer.profile.profile_data["fonts"]["0"]["columns"])
    except (KeyError, TypeError, ValueError):
        return FALLBACK_COLUMNS


def _write_text(printer: Dummy, block: Text, columns: int) -> None:
    width, height = _SIZES[block.size]
    if block.size == "normal":
        printer.set_with_default(align=block.align, bold=block.bold)
    else:
        printer.set_with_default(
            align=block.align, bold=block.bold, custom_size=True, width=width, height=height
        )
    for line in _wrap(clean_text(block.text), max(columns // width, 8)):
        try:
            printer.textln(line)
        except escpos.exceptions.Error as exc:
            # Code page selection failed for this line: print it as ASCII instead of losing it.
            logger.warning("Text encoding failed, printing ASCII: error=%s", exc)
            printer.textln(line.encode("ascii", "replace").decode("ascii"))


def _write_qr(printer: Dummy, block: QR, native: bool) -> None:
    printer.set_with_default(align="center")
    if native:
        printer.qr(block.data, ec=QR_ECLEVEL_M, size=6, native=True)
        printer.ln()
    elif _knows_width(printer):
        printer.qr(block.data, ec=QR_ECLEVEL_M, size=6, native=False, center=True)
    else:
        # python-escpos's image() prints a notice to stdout for profiles without a paper
        # width, so the raster command (GS v 0) is built here instead.
        raster = EscposImage(_qr_matrix(block.data, box_size=6, border=1))
        header = b"\x1dv0\x00" + _low_high(raster.width_bytes) + _low_high(raster.height)
        printer._raw(header + raster.to_raster_format())
        printer.ln()
    if block.caption:
        printer.textln(clean_text(block.caption))


def _knows_width(printer: Dummy) -> bool:
    pixels = printer.profile.profile_data.get("media", {}).get("width", {}).get("pixels")
    return isinstance(pixels, int)


def _low_high(number: int) -> bytes:
    return number.to_bytes(2, "little")


def _qr_matrix(data: str, *, box_size: int, border: int) -> Image.Image:
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border
    )
    code.add_data(data)
    code.make(fit=True)
    return code.make_image().get_image().convert("L")


def _wrap(text: str, columns: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, columns) or [""])
    return lines


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size)


def _text_image(block: Text) -> Image.Image:
    font = _font(_PREVIEW_FONT_SIZES[block.size])
    usable = PREVIEW_WIDTH - 2 * _PREVIEW_MARGIN
    average = max(font.getlength("abcdefghijklmnopqrstuvwxyz") / 26, 1)
    lines = _wrap(clean_text(block.text), max(int(usable / average), 4))
    line_height = int(_PREVIEW_FONT_SIZES[block.size] * 1.3)
    image = Image.new("L", (PREVIEW_WIDTH, line_height * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        left = _PREVIEW_MARGIN
        if block.align == "center":
            left = max(int((PREVIEW_WIDTH - font.getlength(line)) / 2), 0)
        draw.text((left, index * line_height), line, font=font, fill=0)
        if block.bold:
            draw.text((left + 1, index * line_height), line, font=font, fill=0)
    return image


def _qr_image(block: QR) -> Image.Image:
    matrix = _qr_matrix(block.data, box_size=6, border=4)
    if matrix.width > PREVIEW_WIDTH:
        matrix = matrix.resize((PREVIEW_WIDTH, PREVIEW_WIDTH), Image.Resampling.NEAREST)
    caption = _text_image(Text(block.caption, align="center")) if block.caption else None
    height = matrix.height + (caption.height if caption else 0)
    image = Image.new("L", (PREVIEW_WIDTH, height), 255)
    image.paste(matrix, ((PREVIEW_WIDTH - matrix.width) // 2, 0))
    if caption:
        image.paste(caption, (0, matrix.height))
    return image
