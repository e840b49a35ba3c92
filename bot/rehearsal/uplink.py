"""A TCP relay on 127.0.0.1 between the venue daemon and the bot, which can cut the uplink."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

CHUNK = 65536


class UplinkRelay:
    """Forwards each connection to the bot's current web port until `cut()` is called.

    The target port is looked up per connection, so the relay follows a restarted bot that
    listens on a new port. While cut, the listening socket is closed (connections are refused)
    and every open connection is aborted, as when the venue's internet drops.
    """

    def __init__(self, target_port: Callable[[], int | None]) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("Uplink relay listening: port=%s", self.port)

    async def cut(self) -> None:
        """Refuse new connections and abort open ones until `restore()`."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()
        logger.warning("Uplink relay cut: port=%s", self.port)

    async def restore(self) -> None:
        if self._server is None:
            await self.start()
            logger.info("Uplink relay restored: port=%s", self.port)

    async def close(self) -> None:
        await self.cut()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = self.target_port()
        if port is None:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            logger.info("Uplink relay target unreachable: port=%s error=%s", port, exc)
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            self._writers.difference_update((writer, upstream_writer))
            for side in (writer, upstream_writer):
                side.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()
