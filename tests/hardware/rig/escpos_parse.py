"""Read QR payloads and raster images back out of captured ESC/POS bytes."""

from __future__ import annotations

import zxingcpp
from PIL import Image

GS = 0x1D


def native_qr_payloads(data: bytes) -> list[str]:
    """Return the data of every `GS ( k` QR store command (cn 0x31, fn 0x50, m 0x30)."""
    payloads = []
    index = data.find(b"\x1d(k")
    while index != -1:
        length = data[index + 3] | data[index + 4] << 8
        body = data[index + 5 : index + 5 + length]
        if body[:3] == b"\x31\x50\x30":
            payloads.append(body[3:].decode("utf-8"))
        index = data.find(b"\x1d(k", index + 5 + length)
    return payloads


def raster_images(data: bytes) -> list[Image.Image]:
    """Return every `GS v 0` raster image as a black-on-white picture."""
    images = []
    index = data.find(b"\x1dv0")
    while index != -1:
        width_bytes = data[index + 4] | data[index + 5] << 8
        height = data[index + 6] | data[index + 7] << 8
        start = index + 8
        size = width_bytes * height
        bits = Image.frombytes("1", (width_bytes * 8, height), data[start : start + size])
        # In ESC/POS raster data a set bit is a black dot; in Pillow's mode "1" it is white.
        images.append(bits.point(lambda value: 255 - value).convert("L"))
        index = data.find(b"\x1dv0", start + size)
    return images


def decode_qr_images(images: list[Image.Image]) -> list[str]:
    """Decode QR codes in pictures with zxing-cpp, padding each with a quiet zone."""
    texts = []
    for image in images:
        padded = Image.new("L", (image.width + 40, image.height + 40), 255)
        padded.paste(image, (20, 20))
        texts.extend(result.text for result in zxingcpp.read_barcodes(padded))
    return texts
