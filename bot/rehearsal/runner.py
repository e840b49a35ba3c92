"""`micropop rehearse`: play a night against the emulator and report what happened."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bot import links
from bot.emulator import RateLimits
from bot.links import Link, LinkKind
from bot.rehearsal.stage import Stage
from bot.services import events
from bot.services.events import EventFields

logger = logging.getLogger(__name__)


@dataclass
class RehearsalOptions:
    directory: Path | None = None
    attendees: int = 150
    json_output: bool = False


async def run_rehearsal(options: RehearsalOptions) -> int:
    """Run the rehearsal; return the process exit status (0 when every invariant held)."""
    console = Console(stderr=options.json_output)
    with tempfile.TemporaryDirectory(prefix="micropop-rehearsal-") as scratch:
        directory = options.directory or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        async with Stage.on_sqlite(directory, limits=RateLimits()) as stage:
            return await _play(stage, console)


async def _play(stage: Stage, console: Console) -> int:
    event = await events.create_event(
        stage.bot.db,
        EventFields(title="Night Market", venue_name="Hall 7", venue_address="Dock St 1"),
    )
    secret = stage.bot.settings.signing_secret.get_secret_value()
    payload = links.encode(Link(LinkKind.EVENT, event.id, "qr"), secret)
    ada = stage.emulator.user(1, "Ada", language_code="en")

    console.rule("An attendee scans the printed QR code")
    console.print(f"[dim]deep link: {links.deep_link(stage.emulator.bot_username, payload)}")
    stage.emulator.send_start(ada, payload)
    reply = await stage.emulator.wait_for_message(ada.id)
    _print_exchange(console, f"/start {payload}", reply.get("text", ""))

    stage.emulator.send_text(ada, "/help")
    help_reply = await stage.emulator.wait_for_message(
        ada.id, lambda m: "/map" in m.get("text", "")
    )
    _print_exchange(console, "/help", help_reply["text"])
    console.rule("Rehearsal finished")
    return 0


def _print_exchange(console: Console, sent: str, received: str) -> None:
    console.print(f"[bold cyan]attendee >[/] {sent}")
    for line in received.splitlines() or [""]:
        console.print(f"[bold green]bot      <[/] {line}", markup=True, highlight=False)
