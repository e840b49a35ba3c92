"""A cluster rig: several `micropop run` processes behind a round-robin webhook proxy.

Every process is its own `python -m bot.cli run` with its own web port, on one PostgreSQL
database and one Redis server, against a Bot API emulator in the calling process. The proxy
plays the load balancer in front of the webhook workers. The tests of scale-out and
bench/scaleout.py both use it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from bot.emulator import BotAPIEmulator
from bot.rehearsal.stage import BOT_TOKEN, ORGANISER_CHAT_ID
from bot.scheduling.leadership import SCHEDULER_LOCK_KEY, asyncpg_dsn

WEBHOOK_SECRET = "cluster-Secret_1"
SIGNING_SECRET = "cluster-signing-secret-shared-by-every-process"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
# Headers that describe one hop of HTTP, not the request, and so are not passed on.
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RoundRobinProxy:
    """An HTTP proxy on 127.0.0.1 that passes each request to the next backend in turn.

    A backend that refuses the connection is skipped, as a load balancer skips a dead worker.
    """

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.port = 0
        self.forwarded: Counter[str] = Counter()
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        first = next(self._turn)
        for attempt in range(len(self.backends)):
            backend = self.backends[(first + attempt) % len(self.backends)]
            try:
                async with self._session.request(
                    request.method, backend + request.path_qs, data=body, headers=headers
                ) as response:
                    payload = await response.read()
                    self.forwarded[backend] += 1
                    kept = {
                        k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS
                    }
                    return web.Response(body=payload, status=response.status, headers=kept)
            except aiohttp.ClientConnectorError:
                continue
        return web.Response(status=502, text="no backend reachable")


@dataclass
class BotProcess:
    index: int
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Cluster:
    """Start N bot processes in webhook mode behind one proxy; stop or kill them one by one."""

    def __init__(
        self,
        emulator: BotAPIEmulator,
        database_url: str,
        redis_url: str,
        directory: Path,
        *,
        processes: int = 3,
        log_level: str = "WARNING",
        **settings: object,
    ) -> None:
        self.emulator = emulator
        self.database_url = database_url
        self.redis_url = redis_url
        self.directory = directory
        self.ports = [free_port() for _ in range(processes)]
        self.redis_prefix = f"micropop-test-{uuid.uuid4().hex[:10]}"
        self.log_level = log_level
        self.settings = settings
        self.proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in self.ports])
        self.members: list[BotProcess] = []
        self.killed: list[BotProcess] = []

    def environment(self, port: int) -> dict[str, str]:
        values = {
            "MICROPOP_BOT_TOKEN": BOT_TOKEN,
            "MICROPOP_API_BASE_URL": self.emulator.base_url,
            "MICROPOP_DATABASE_URL": self.database_url,
            "MICROPOP_REDIS_URL": self.redis_url,
            "MICROPOP_REDIS_PREFIX": self.redis_prefix,
            "MICROPOP_WEBHOOK_URL": self.proxy.url,
            "MICROPOP_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MICROPOP_WEB_LISTEN": f"127.0.0.1:{port}",
            "MICROPOP_ORGANISER_CHAT_ID": str(ORGANISER_CHAT_ID),
            "MICROPOP_SIGNING_SECRET": SIGNING_SECRET,
            "MICROPOP_DATA_DIR": str(self.directory),
            "MICROPOP_LOG_LEVEL": self.log_level,
            "MICROPOP_RUN_MIGRATIONS_ON_START": "false",
            "MICROPOP_SEND_CONCURRENCY": "4",
        }
        values.update({f"MICROPOP_{k.upper()}": str(v) for k, v in self.settings.items()})
        return os.environ | values

    async def start(self) -> None:
        await self.proxy.start()
        for index, port in enumerate(self.ports):
            self.members.append(self._spawn(index, port))
        await asyncio.gather(*(self.wait_healthy(member) for member in self.members))

    def _spawn(self, index: int, port: int) -> BotProcess:
        log_path = self.directory / f"bot-{index}-{secrets.token_hex(3)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"],
                env=self.environment(port),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return BotProcess(index, port, log_path, process)

    async def wait_healthy(self, member: BotProcess) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        async with aiohttp.ClientSession() as client:
            while time.monotonic() < deadline:
                if member.process.poll() is not None:
                    raise RuntimeError(f"bot process {member.index} exited:\n{member.log()}")
                try:
                    async with client.get(member.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"bot process {member.index} not healthy:\n{member.log()}")

    async def leader(self) -> BotProcess | None:
        """Return the process holding the scheduler lock, found through pg_locks."""
        connection = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            name = await connection.fetchval(
                "SELECT a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
                SCHEDULER_LOCK_KEY,
            )
        finally:
            await connection.close()
        match = re.search(r"pid=(\d+)", name or "")
        pid = int(match.group(1)) if match else None
        return next((m for m in self.members if m.process.pid == pid), None)

    async def wait_for_leader(self, timeout: float, *, other_than: BotProcess | None = None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = await self.leader()
            if leader is not None and leader is not other_than:
                return leader
            await asyncio.sleep(0.2)
        raise TimeoutError(f"no scheduler leader within {timeout} s")

    def kill(self, member: BotProcess) -> None:
        self.killed.append(member)
        member.process.send_signal(signal.SIGKILL)
        member.process.wait(timeout=30)

    async def metric(self, member: BotProcess, name: str) -> float:
        """Read one sample, such as `micropop_deliveries_total{state="sent"}`, from /metrics."""
        async with aiohttp.ClientSession() as client:
            async with client.get(member.url + "/metrics") as response:
                text = await response.text()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def logs(self) -> str:
        return "\n".join(f"--- bot {m.index} ---\n{m.log()[-6000:]}" for m in self.members)

    async def stop(self) -> list[int | None]:
        """Stop every process still running with SIGTERM; return the exit codes."""
        for member in self.members:
            if member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for member in self.members:
            try:
                codes.append(await asyncio.to_thread(member.process.wait, STOP_TIMEOUT_S))
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()
                with member.log_path.open("a") as log:
                    log.write(f"rig: killed after {STOP_TIMEOUT_S} s without exiting on SIGTERM\n")
                codes.append(None)
        await self.proxy.stop()
        await self._delete_redis_keys()
        return codes

    async def _delete_redis_keys(self) -> None:
        client = Redis.from_url(self.redis_url)
        try:
            for pattern in (f"{self.redis_prefix}:*", f"{{{self.redis_prefix}:*"):
                keys = [key async for key in client.scan_iter(match=pattern)]
                if keys:
                    await client.delete(*keys)
        finally:
            await client.aclose()

    async def __aenter__(self) -> Cluster:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        codes = await self.stop()
        unclean = [
            (member.index, code)
            for member, code in zip(self.members, codes, strict=True)
            if member not in self.killed and code != 0
        ]
        # A process that does not exit with 0 on SIGTERM failed its clean shutdown.
        if exc_type is None and unclean:
            raise AssertionError(f"Bot processes did not stop cleanly: {unclean}\n{self.logs()}")
