"""Getting updates: getUpdates long polling, setWebhook, deleteWebhook and getWebhookInfo."""

import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.emulator.errors import APIError, bad_request
from bot.emulator.methods import Described, MethodCall, api_method

if TYPE_CHECKING:
    from bot.emulator.server import BotAPIEmulator

SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}$")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
WEBHOOK_CONFLICT = APIError(
    409,
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first",
)
POLLING_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


@api_method("getUpdates")
async def get_updates(emu: "BotAPIEmulator", call: MethodCall) -> list[dict[str, Any]]:
    params = call.params
    if emu.webhook.url:
        raise WEBHOOK_CONFLICT
    limit = min(max(params.get("limit") or 100, 1), 100)
    timeout = max(params.get("timeout") or 0, 0)
    queue = emu.updates
    if "allowed_updates" in params:
        queue.set_allowed(params["allowed_updates"])
    queue.confirm(params.get("offset") or 0)

    # Telegram ends an older waiting getUpdates with 409 when a newer one arrives.
    ticket = object()
    queue.poller = ticket
    queue.wake()
    deadline = time.monotonic() + timeout
    while True:
        updates = queue.take(limit)
        remaining = deadline - time.monotonic()
        if updates or queue.closed or remaining <= 0:
            return updates
        await queue.wait(remaining)
        if queue.poller is not ticket:
            raise APIError(409, POLLING_CONFLICT)


@api_method("setWebhook")
async def set_webhook(emu: "BotAPIEmulator", call: MethodCall) -> Described:
    params = call.params
    url = params.get("url") or ""
    if not url:
        return await delete_webhook(emu, call)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        # NOTE: Telegram requires HTTPS on ports 443, 80, 88 or 8443. The emulator instead
        # accepts only loopback URLs, so that a test can never post updates to another host.
        raise bad_request("bad webhook: the emulator delivers updates only to 127.0.0.1")
    secret = params.get("secret_token")
    if secret is not None and not SECRET_TOKEN_RE.match(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = params.get("max_connections") or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")

    if params.get("drop_pending_updates"):
        emu.updates.clear()
    if "allowed_updates" in params:
        emu.updates.set_allowed(params["allowed_updates"])
    emu.webhook.configure(url, secret, max_connections, call.bot)
    emu.updates.wake()
    return Described(True, "Webhook was set")


@api_method("deleteWebhook")
async def delete_webhook(emu: "BotAPIEmulator", call: MethodCall) -> Described:
    if call.params.get("drop_pending_updates"):
        emu.updates.clear()
    if not emu.webhook.url:
        return Described(True, "Webhook is already deleted")
    emu.webhook.configure("", None, 40, call.bot)
    return Described(True, "Webhook was deleted")


@api_method("getWebhookInfo")
async def get_webhook_info(emu: "BotAPIEmulator", call: MethodCall) -> dict[str, Any]:
    webhook = emu.webhook
    info: dict[str, Any] = {
        "url": webhook.url,
        "has_custom_certificate": False,
        "pending_update_count": len(emu.updates.pending),
    }
    if webhook.url:
        info["max_connections"] = webhook.max_connections
    if webhook.url and emu.updates.allowed is not None:
        info["allowed_updates"] = sorted(emu.updates.allowed)
    if webhook.last_error_date:
        info["last_error_date"] = webhook.last_error_date
        info["last_error_message"] = webhook.last_error_message
    return info
