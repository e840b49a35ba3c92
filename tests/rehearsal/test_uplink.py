"""Tests of the uplink relay between the venue daemon and the bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.rehearsal.uplink import UplinkRelay


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


@pytest.fixture
async def relay() -> AsyncIterator[UplinkRelay]:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    relay = UplinkRelay(lambda: port)
    await relay.start()
    yield relay
    await relay.close()
    server.close()
    await server.wait_closed()


async def round_trip(relay: UplinkRelay) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    writer.write(b"ping\n")
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.readline(), 2)
    finally:
        writer.close()


async def test_relay_forwards_bytes(relay: UplinkRelay) -> None:
    assert await round_trip(relay) == b"ping\n"


async def test_cut_relay_refuses_connections(relay: UplinkRelay) -> None:
    await relay.cut()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", relay.port)


async def test_restored_relay_keeps_its_port(relay: UplinkRelay) -> None:
    port = relay.port
    await relay.cut()
    await relay.restore()
    assert relay.port == port
    assert await round_trip(relay) == b"ping\n"
