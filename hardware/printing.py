"""Receipt printers addressed by URI: send whole ESC/POS jobs, or write PNG previews."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import escpos.exceptions
from escpos import printer as escpos_printer
from escpos.capabilities import CAPABILITIES

from hardware.errors import ConfigError, PrinterError
from hardware.layouts import Layout
from hardware.rendering import DEFAULT_PROFILE, render_escpos, render_png

logger = logging.getLogger(__name__)

# A printer that stops reading fails a job after this long instead of python-escpos's 60 s.
DEFAULT_TIMEOUT_S = 5.0

# DLE EOT 1: real-time printer status. The printer sends one status byte per request it reads,
# so a reply to the request placed after the job shows that every byte before it was read.
STATUS_REQUEST = b"\x10\x04\x01"
# Once a status byte has arrived, a further quiet period this long ends the wait, because
# printers differ in whether they reply to status-like byte pairs inside image data.
STATUS_QUIET_S = 0.3

EXAMPLE_URIS = (
    "tcp://192.0.2.10:9100, usb://04b8:0202, serial:///dev/ttyUSB0?baudrate=19200, "
    "file:///dev/usb/lp0 or preview://prints"
)


class Printer(Protocol):
    uri: str

    async def print_layout(self, layout: Layout, *, job_ref: str) -> None:
        """Print one job, returning only once the printer accepted all of it, else raise."""
        ...


@dataclass(frozen=True)
class PrinterTarget:
    """A parsed printer URI."""

    scheme: str
    uri: str
    host: str = ""
    port: int = 9100
    path: str = ""
    vendor_id: int = 0
    product_id: int = 0
    baudrate: int = 9600
    profile: str = DEFAULT_PROFILE
    timeout: float = DEFAULT_TIMEOUT_S
    native_qr: bool | None = None
    confirm: bool = False
    options: dict[str, str] = field(default_factory=dict)


def parse_printer_uri(uri: str) -> PrinterTarget:
    """Parse a printer URI with options profile, timeout, qr=native|image, confirm=status|none.

    Raises:
        ConfigError: the URI's scheme, address or an option is invalid.
    """
    parts = urlsplit(uri)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    profile = options.get("profile", DEFAULT_PROFILE)
    if profile not in CAPABILITIES["profiles"]:
        raise ConfigError(
            f"printer URI {uri!r}: unknown profile {profile!r}. Use a python-escpos profile "
            f"such as TM-T88V, TM-T20II or POS-5890"
        )
    common = {
        "uri": uri,
        "profile": profile,
        "timeout": _float_option(uri, options, "timeout", DEFAULT_TIMEOUT_S),
        "native_qr": _qr_option(uri, options),
        "options": options,
    }
    if parts.scheme == "tcp":
        if not parts.hostname:
            raise ConfigError(f"printer URI {uri!r} has no host: use tcp://HOST:9100")
        confirm = options.get("confirm", "status")
        return PrinterTarget(
            "tcp",
            host=parts.hostname,
            port=parts.port or 9100,
            confirm=_confirm(uri, confirm),
            **common,
        )
    if parts.scheme == "usb":
        vendor, _, product = parts.netloc.partition(":")
        try:
            return PrinterTarget(
                "usb", vendor_id=int(vendor, 16), product_id=int(product, 16), **common
            )
        except ValueError:
            raise ConfigError(
                f"printer URI {uri!r}: use usb://VID:PID in hex, e.g. usb://04b8:0202"
            ) from None
    if parts.scheme in {"serial", "file", "preview"}:
        path = parts.netloc + parts.path
        if not path:
            raise ConfigError(f"printer URI {uri!r} has no path: e.g. {EXAMPLE_URIS}")
        baudrate = int(_float_option(uri, options, "baudrate", 9600))
        return PrinterTarget(parts.scheme, path=path, baudrate=baudrate, **common)
    raise ConfigError(f"printer URI {uri!r} has an unknown scheme: use {EXAMPLE_URIS}")


def open_printer(uri: str) -> Printer:
    """Create the printer for a URI: a preview directory or an ESC/POS device."""
    target = parse_printer_uri(uri)
    if target.scheme == "preview":
        return PreviewPrinter(target)
    return EscposPrinter(target)


class EscposPrinter:
    """An ESC/POS printer reached over TCP, USB, a serial line or a device file."""

    def __init__(self, target: PrinterTarget) -> None:
        self.target = target
        self.uri = target.uri

    def render(self, layout: Layout) -> bytes:
        return render_escpos(layout, self.target.profile, self.target.native_qr)

    async def print_layout(self, layout: Layout, *, job_ref: str) -> None:
        data = self.render(layout)
        started = time.monotonic()
        # python-escpos blocks, so a thread keeps a stalled printer from stalling the event loop.
        await asyncio.to_thread(self._send, data)
        logger.info(
            "Job printed: job=%s printer=%s bytes=%s elapsed=%.3fs",
            job_ref,
            self.uri,
            len(data),
            time.monotonic() - started,
        )

    def _send(self, data: bytes) -> None:
        device = self._device()
        try:
            device.open(raise_not_found=True)
            if self.target.confirm:
                device._raw(data + STATUS_REQUEST)
                _await_status(device, expected=1 + _status_requests_in(data))
            else:
                device._raw(data)
        except (escpos.exceptions.Error, OSError) as exc:
            detail = " ".join(str(exc).split()) or "no detail"
            raise PrinterError(
                f"printer {self.uri} did not accept the job: {type(exc).__name__}: {detail}"
            ) from exc
        finally:
            _close_quietly(device)

    def _device(self) -> escpos_printer.Escpos:
        target = self.target
        if target.scheme == "tcp":
            return _Network(target.host, target.port, timeout=target.timeout)
        if target.scheme == "file":
            return escpos_printer.File(target.path)
        if target.scheme == "serial":
            _require(escpos_printer.Serial, "pyserial", target.uri)
            return escpos_printer.Serial(
                target.path, baudrate=target.baudrate, timeout=target.timeout
            )
        _require(escpos_printer.Usb, "pyusb", target.uri)
        return escpos_printer.Usb(
            target.vendor_id, target.product_id, timeout=int(target.timeout * 1000)
        )


class PreviewPrinter:
    """Writes each job as a PNG file, for rehearsals and tests without a printer."""

    def __init__(self, target: PrinterTarget) -> None:
        self.uri = target.uri
        self.directory = Path(target.path)

    async def print_layout(self, layout: Layout, *, job_ref: str) -> None:
        image = render_png(layout)
        path = self.directory / f"{job_ref}-{layout.kind}.png"
        try:
            await asyncio.to_thread(_write_atomically, path, image)
        except OSError as exc:
            raise PrinterError(f"preview {path} could not be written: {exc}") from exc
        logger.info("Preview written: job=%s path=%s", job_ref, path)


class _Network(escpos_printer.Network):
    """python-escpos's TCP printer, closing its socket when the connect fails."""

    def open(self, raise_not_found: bool = True) -> None:
        # NOTE: python-escpos 3.1 drops the socket of a failed connect without closing it,
        # which leaks a file descriptor per refused attempt. Drop this override once it closes.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise escpos.exceptions.DeviceNotFoundError(
                f"Could not open socket for {self.host}:{self.port}: {exc}"
            ) from exc
        self.device = sock


def _await_status(device: escpos_printer.Escpos, expected: int) -> None:
    sock = device.device
    if not isinstance(sock, socket.socket):
        raise PrinterError(f"status confirmation needs a TCP printer, got {type(sock).__name__}")
    received = b""
    while len(received) < expected:
        if received:
            sock.settimeout(STATUS_QUIET_S)
        try:
            chunk = sock.recv(64)
        except TimeoutError:
            if received:
                break
            raise
        if not chunk:
            raise ConnectionAbortedError("printer closed the connection before sending its status")
        received += chunk
    status = received[-1]
    # A valid status byte has bits 1 and 4 set and bits 0 and 7 clear. Bit 3 means offline.
    if status & 0x93 != 0x12:
        raise PrinterError(f"printer sent 0x{status:02x}, which is not an ESC/POS status byte")
    if status & 0x08:
        raise PrinterError("printer reports offline (cover open, paper out or error)")


def _status_requests_in(data: bytes) -> int:
    return sum(data.count(b"\x10\x04" + bytes((n,))) for n in (1, 2, 3, 4))


def _close_quietly(device: escpos_printer.Escpos) -> None:
    try:
        device.close()
    except (escpos.exceptions.Error, OSError) as exc:
        logger.debug("Closing printer failed: error=%s", exc)


def _require(cls: type[escpos_printer.Escpos], package: str, uri: str) -> None:
    if not cls.is_usable():
        raise PrinterError(f"printer {uri} needs the {package} package: pip install {package}")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".png.part")
    partial.write_bytes(data)
    os.replace(partial, path)


def _float_option(uri: str, options: dict[str, str], name: str, default: float) -> float:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"printer URI {uri!r}: {name}={raw!r} must be a positive number")
    return value


def _qr_option(uri: str, options: dict[str, str]) -> bool | None:
    raw = options.get("qr")
    if raw is None:
        return None
    if raw not in {"native", "image"}:
        raise ConfigError(f"printer URI {uri!r}: qr={raw!r} is invalid, use native or image")
    return raw == "native"


def _confirm(uri: str, raw: str) -> bool:
    if raw not in {"status", "none"}:
        raise ConfigError(f"printer URI {uri!r}: confirm={raw!r} is invalid, use status or none")
    return raw == "status"
