"""BotAPIEmulator: a local Telegram Bot API server on 127.0.0.1 for tests and the rehearsal."""

import asyncio
import json
import logging
import re
import time
from typing import Any, Self

from aiohttp import web

from bot.emulator.driver import Simulation
from bot.emulator.errors import NOT_FOUND, UNAUTHORIZED, APIError
from bot.emulator.faults import FaultKind, FaultPlan, FaultRule
from bot.emulator.limits import FloodControl, RateLimits, SendStats
from bot.emulator.methods import HANDLERS, Described, MethodCall
from bot.emulator.params import UploadedFile, read_request
from bot.emulator.records import Call, Inspection, Pulse
from bot.emulator.state import EmulatorState, User
from bot.emulator.update_queue import UpdateQueue
from bot.emulator.webhook import WebhookDelivery

logger = logging.getLogger(__name__)
TOKEN_RE = re.compile(r"(\d+):[A-Za-z0-9_-]+$")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class BotAPIEmulator(Simulation, Inspection):
    """A Telegram Bot API server that records calls, enforces limits and injects faults.

    aiogram reaches it through `TelegramAPIServer.from_base(emu.base_url)` and
    python-telegram-bot through `base_url=f"{emu.base_url}/bot"` and
    `base_file_url=f"{emu.base_url}/file/bot"`. Any token shaped `<digits>:<secret>` is accepted,
    and the digits become the bot's user id.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: RateLimits | None = None,
        bot_username: str = "micropop_bot",
        bot_first_name: str = "micropop",
        webhook_retry_delays: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0),
        webhook_timeout: float = 10.0,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"Invalid host {host!r}: the emulator binds only to 127.0.0.1")
        self.host = host
        self.port = port
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.state = EmulatorState()
        self.updates = UpdateQueue()
        self.faults = FaultPlan()
        self.stats = SendStats()
        self.flood = FloodControl(limits, self.stats)
        self.webhook = WebhookDelivery(self, webhook_retry_delays, webhook_timeout)
        self.calls: list[Call] = []
        self.changed = Pulse()
        self.offline = False
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("The emulator is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def limits(self) -> RateLimits | None:
        return self.flood.limits

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.updates.closed = False
        await self.webhook.start()
        logger.info("Bot API emulator started: url=%s", self.base_url)

    async def stop(self) -> None:
        """Stop serving; waiting getUpdates calls return an empty result at once."""
        if self._runner is None:
            return
        self.updates.close()
        await self.webhook.stop()
        await self._runner.cleanup()
        self._runner = None
        logger.info("Bot API emulator stopped: calls=%s", len(self.calls))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def set_limits(self, limits: RateLimits | None) -> None:
        """Replace the enforced rate limits, or stop enforcing them with None. Past sends count."""
        self.flood.limits = limits

    def set_offline(self, offline: bool = True) -> None:
        """Abort the connection of every request while offline, as if Telegram were unreachable."""
        self.offline = offline

    def reset(self) -> None:
        """Forget calls, messages, users, chats, queued updates, faults and statistics.

        The server, its webhook setting and the update_id sequence carry on.
        """
        self.calls.clear()
        self.state = EmulatorState()
        self.updates.pending.clear()
        self.faults.clear()
        self.stats.http_429 = 0
        self.stats.accepted.clear()
        self.stats.rejected_by.clear()
        self.flood.reset()
        self.offline = False
        self.changed.notify()

    def bot_user(self, token: str) -> User:
        match = TOKEN_RE.match(token)
        if not match:
            raise UNAUTHORIZED
        return User(int(match.group(1)), self.bot_first_name, None, self.bot_username, None, True)

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        if self.offline:
            _abort(request)
        method = request.match_info["method"]
        try:
            bot = self.bot_user(request.match_info["token"])
            params, files = await read_request(request)
        except APIError as error:
            return _json(error.status, error.payload())

        rule = (
            self.faults.take(method, params.get("chat_id")) if method.lower() in HANDLERS else None
        )
        if rule is not None and rule.kind is FaultKind.DELAY:
            await asyncio.sleep(rule.delay)
        if rule is not None and rule.kind is FaultKind.DROP:
            self._record(method, params, files, 0, None, fault=rule)
            _abort(request)
        if rule is not None and (error := rule.error(params.get("chat_id"))) is not None:
            return self._respond(method, params, files, error.status, error.payload(), rule)

        status, payload = await self._run(method, params, files, bot)
        if rule is not None and rule.kind is FaultKind.LOST_RESPONSE:
            self._record(method, params, files, 0, _copy(payload), fault=rule)
            _abort(request)
        return self._respond(method, params, files, status, payload, rule)

    async def execute(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, UploadedFile],
        bot: User,
        *,
        source: str,
    ) -> Call:
        """Run a method without an HTTP request, such as one returned in a webhook response."""
        status, payload = await self._run(method, params, files, bot)
        return self._record(method, params, files, status, _copy(payload), source=source)

    async def _run(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile], bot: User
    ) -> tuple[int, dict[str, Any]]:
        handler = HANDLERS.get(method.lower())
        if handler is None:
            return NOT_FOUND.status, NOT_FOUND.payload()
        try:
            result = await handler(self, MethodCall(method, params, files, bot))
        except APIError as error:
            return error.status, error.payload()
        if isinstance(result, Described):
            return 200, {"ok": True, "result": result.result, "description": result.description}
        return 200, {"ok": True, "result": result}

    def _respond(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, UploadedFile],
        status: int,
        payload: dict[str, Any],
        rule: FaultRule | None,
    ) -> web.Response:
        body = json.dumps(payload, ensure_ascii=False)
        self._record(method, params, files, status, json.loads(body), fault=rule)
        return web.Response(status=status, text=body, content_type="application/json")

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, UploadedFile],
        status: int,
        response: dict[str, Any] | None,
        *,
        source: str = "http",
        fault: FaultRule | None = None,
    ) -> Call:
        call = Call(
            method, params, files, status, response, time.monotonic(), params.get("chat_id")
        )
        call.source = source
        call.fault = fault.kind.value if fault else None
        self.calls.append(call)
        if status == 429:
            self.stats.http_429 += 1
        self.changed.notify()
        return call

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if self.offline:
            _abort(request)
        try:
            self.bot_user(request.match_info["token"])
        except APIError as error:
            return _json(error.status, error.payload())
        stored = self.state.files.by_path.get(request.match_info["path"])
        if stored is None:
            return _json(NOT_FOUND.status, NOT_FOUND.payload())
        return web.Response(body=stored.data, content_type="application/octet-stream")


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()
    raise web.HTTPInternalServerError()


def _json(status: int, payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload, status=status)


def _copy(payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(payload))
