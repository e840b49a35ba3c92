"""Pictures of the rehearsal: the venue's floor plan, the door poster and QR code scans."""

from __future__ import annotations

import io
import logging

from PIL import Image, ImageDraw

from hardware.layouts import QR, Layout, Rule, Text
from hardware.rendering import render_png

logger = logging.getLogger(__name__)

# Rooms of the floor plan: name and box (left, top, right, bottom) in pixels.
ROOMS = (
    ("Entrance", (20, 250, 140, 330)),
    ("Bar", (20, 20, 220, 120)),
    ("Merch stand", (260, 20, 480, 120)),
    ("Main stage", (260, 170, 620, 330)),
)


def floor_plan_png() -> bytes:
    """Draw a simple floor plan of the venue, the picture organisers send with /map."""
    image = Image.new("RGB", (640, 360), (250, 247, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 635, 355), outline=(60, 60, 60), width=4)
    for name, box in ROOMS:
        draw.rectangle(box, fill=(220, 232, 245), outline=(40, 70, 120), width=3)
        draw.text((box[0] + 10, box[1] + 10), name, fill=(20, 30, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def poster_png(event_title: str, link: str) -> bytes:
    """Render the door poster with the venue printer's layout code: a QR code to the bot."""
    layout = Layout(
        kind="poster",
        blocks=(
            Text(event_title, size="large", bold=True, align="center"),
            Rule(),
            Text("Scan to join tonight's event", align="center"),
            QR(link, "Opens the event in Telegram"),
        ),
    )
    return render_png(layout)


def scan_qr(png: bytes) -> str | None:
    """Read the first QR code of a picture, as a phone camera would; None if none is found.

    Needs zxing-cpp (a test dependency). Without it, returns None.
    """
    try:
        import zxingcpp
    except ImportError:
        logger.info("QR scan skipped: zxing-cpp is not installed")
        return None
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return results[0].text if results else None
