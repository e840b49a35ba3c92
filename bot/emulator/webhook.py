"""Webhook delivery: POST pending updates to the bot, retry failures, run methods it returns."""

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.emulator.params import decode_fields, read_multipart_body
from bot.emulator.state import User
from bot.emulator.update_queue import update_chat_id

if TYPE_CHECKING:
    from bot.emulator.server import BotAPIEmulator

logger = logging.getLogger(__name__)
# Only this many queued updates are scanned for one that can be sent while others are in flight.
CLAIM_WINDOW = 200


class WebhookDelivery:
    """Webhook delivery: up to max_connections requests at once but one at a time per chat.

    A failed update is retried with growing delays until the bot accepts it.
    NOTE: Telegram gives up after an undocumented number of attempts; the emulator never does.
    """

    def __init__(
        self, emu: "BotAPIEmulator", retry_delays: tuple[float, ...], timeout: float
    ) -> None:
        self.emu = emu
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.url = ""
        self.secret_token: str | None = None
        self.max_connections = 40
        self.bot: User | None = None
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.attempts = 0
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight: set[int] = set()
        self._busy_chats: set[int | None] = set()
        self._generation = 0

    def configure(self, url: str, secret: str | None, max_connections: int, bot: User) -> None:
        self.url, self.secret_token = url, secret
        self.max_connections, self.bot = max_connections, bot
        self._stop_workers()
        if url and self._session is not None:
            self._start_workers()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        if self.url:
            self._start_workers()

    async def stop(self) -> None:
        workers = self._stop_workers()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _start_workers(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(self._generation), name=f"webhook-{number}")
            for number in range(self.max_connections)
        ]

    def _stop_workers(self) -> list[asyncio.Task[None]]:
        workers, self._workers = self._workers, []
        self._generation += 1
        for worker in workers:
            worker.cancel()
        self._in_flight.clear()
        self._busy_chats.clear()
        return workers

    def _claim(self) -> dict[str, Any] | None:
        queue = self.emu.updates
        unwanted = []
        claimed = None
        for index in range(min(len(queue.pending), CLAIM_WINDOW)):
            update = queue.pending[index]
            chat_id = update_chat_id(update)
            if not queue.is_allowed(update):
                unwanted.append(update)
            elif id(update) not in self._in_flight and chat_id not in self._busy_chats:
                claimed = update
                break

        # Telegram drops updates of types the bot did not subscribe to.
        for update in unwanted:
            queue.remove(update)
        if claimed is not None:
            self._in_flight.add(id(claimed))
            if update_chat_id(claimed) is not None:
                self._busy_chats.add(update_chat_id(claimed))
        return claimed

    async def _work(self, generation: int) -> None:
        failures = 0
        # The generation check ends a worker even if its cancellation was lost.
        while generation == self._generation:
            update = self._claim()
            if update is None:
                await self.emu.updates.wait(1.0)
                continue
            delivered = await self._post(update)
            self._in_flight.discard(id(update))
            self._busy_chats.discard(update_chat_id(update))
            self.emu.changed.notify()
            if delivered:
                failures = 0
                self.emu.updates.remove(update)
                continue
            delay = self.retry_delays[min(failures, len(self.retry_delays) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    async def _post(self, update: dict[str, Any]) -> bool:
        headers = {}
        if self.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.secret_token
        assert self._session is not None
        self.attempts += 1
        try:
            async with self._session.post(self.url, json=update, headers=headers) as response:
                if not 200 <= response.status < 300:
                    self._record_error(f"Wrong response from the webhook: {response.status}")
                    return False
                await self._run_returned_method(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            self._record_error(f"Connection failed: {type(error).__name__}")
            return False
        return True

    def _record_error(self, message: str) -> None:
        self.last_error_date = int(time.time())
        self.last_error_message = message
        logger.info("Webhook delivery failed: url=%s error=%s", self.url, message)

    async def _run_returned_method(self, response: aiohttp.ClientResponse) -> None:
        """Run a method the bot returned in the response body, as Telegram does."""
        if response.content_type == "multipart/form-data":
            reader = aiohttp.MultipartReader(response.headers, response.content)
            params, files = await read_multipart_body(reader)
        elif response.content_type == "application/json":
            try:
                body = json.loads(await response.read() or b"{}")
            except ValueError:
                return
            params, files = decode_fields(body if isinstance(body, dict) else {}), {}
        else:
            return
        method = params.pop("method", None)
        if isinstance(method, str) and method and self.bot is not None:
            await self.emu.execute(method, params, files, self.bot, source="webhook")
