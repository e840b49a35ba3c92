"""A TCP receipt printer stand-in on 127.0.0.1 that records jobs and misbehaves on request."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

Behaviour = Literal["accept", "close_after", "reset", "stall", "offline"]

STATUS_ONLINE = 0x12
STATUS_OFFLINE = 0x1A


@dataclass
class CapturedJob:
    data: bytes
    complete: bool
    # time.monotonic() when the last byte of the job arrived.
    last_byte_at: float


class CapturePrinter:
    """Accepts raw ESC/POS over TCP and answers DLE EOT status requests like a printer.

    Each connection takes the next queued behaviour, or `accept` when none is queued:
    `close_after` closes after `limit` bytes, `reset` answers with a TCP reset, `stall` stops
    reading, `offline` reports the offline status bit. `refuse()` stops listening.
    """

    def __init__(self) -> None:
        self.jobs: list[CapturedJob] = []
        self.connections = 0
        self.port = 0
        self._plan: deque[tuple[Behaviour, int]] = deque()
        self._server: asyncio.Server | None = None
        self._stalled: list[asyncio.Transport] = []
        self.job_received = asyncio.Event()

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def complete_jobs(self) -> list[bytes]:
        return [job.data for job in self.jobs if job.complete]

    async def start(self) -> None:
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(self), "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """Stop listening, so connects are refused until `start()` runs again."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def stop(self) -> None:
        for transport in self._stalled:
            transport.abort()
        await self.refuse()

    def plan(self, behaviour: Behaviour, *, limit: int = 0, times: int = 1) -> None:
        for _ in range(times):
            self._plan.append((behaviour, limit))

    async def wait_for_jobs(self, count: int, timeout: float = 10.0) -> list[bytes]:
        async with asyncio.timeout(timeout):
            while len(self.complete_jobs) < count:
                self.job_received.clear()
                await self.job_received.wait()
        return self.complete_jobs

    def _next_behaviour(self) -> tuple[Behaviour, int]:
        return self._plan.popleft() if self._plan else ("accept", 0)


class _Connection(asyncio.Protocol):
    def __init__(self, printer: CapturePrinter) -> None:
        self.printer = printer
        self.buffer = bytearray()
        self.last_byte_at = time.monotonic()
        self.answered = 0
        self.closed_by_us = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.printer.connections += 1
        self.behaviour, self.limit = self.printer._next_behaviour()
        if self.behaviour == "reset":
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.closed_by_us = True
            transport.abort()
        elif self.behaviour == "stall":
            transport.pause_reading()
            self.printer._stalled.append(transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last_byte_at = time.monotonic()
        if self.behaviour == "close_after" and len(self.buffer) >= self.limit:
            del self.buffer[self.limit :]
            self.closed_by_us = True
            # Closing with unread bytes in the kernel buffer sends a reset, as a printer
            # that powers off mid-job does.
            self.transport.abort()
            return
        requests = _count_status_requests(self.buffer)
        status = STATUS_OFFLINE if self.behaviour == "offline" else STATUS_ONLINE
        if requests > self.answered:
            self.transport.write(bytes([status]) * (requests - self.answered))
            self.answered = requests

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.behaviour == "stall":
            return
        complete = not self.closed_by_us and self.behaviour == "accept"
        self.printer.jobs.append(CapturedJob(bytes(self.buffer), complete, self.last_byte_at))
        self.printer.job_received.set()


def _count_status_requests(data: bytes | bytearray) -> int:
    return sum(data.count(b"\x10\x04" + bytes((n,))) for n in (1, 2, 3, 4))
