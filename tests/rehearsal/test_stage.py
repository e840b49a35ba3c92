"""Tests of the rehearsal stage: settings from its own values, and the organiser's presses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.db.engine import create_database
from bot.rehearsal.clock import NightClock
from bot.rehearsal.organiser import Organiser
from bot.rehearsal.script import tempo
from bot.rehearsal.stage import Stage
from bot.rehearsal.timeline import Timeline


async def test_settings_ignore_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROPOP_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("MICROPOP_BROADCAST_SECOND_ORGANISER", "true")
    (tmp_path / ".env").write_text("MICROPOP_WEBHOOK_URL=https://bot.example.org/hook\n")
    monkeypatch.chdir(tmp_path)
    stage = Stage.on_sqlite(tmp_path)
    await stage.emulator.start()
    try:
        settings = stage.settings()
    finally:
        await stage.emulator.stop()

    assert settings.redis_url == ""
    assert settings.broadcast_second_organiser is False
    assert settings.webhook_url == ""


async def test_confirm_press_that_does_not_confirm_fails(tmp_path: Path) -> None:
    overrides = {"broadcast_confirm_over": 0, "broadcast_second_organiser": True}
    async with Stage.on_sqlite(tmp_path, **overrides) as stage:
        monitor = create_database(stage.database_url)
        timeline = Timeline(NightClock(900, tempo(1)))
        organiser = Organiser(stage, monitor, timeline)
        try:
            await organiser.command("/event Night Market", "event")
            guest = stage.emulator.user(5001, "Gus")
            stage.emulator.send_text(guest, "/start")
            await asyncio.sleep(0.5)
            reply = await organiser.command("/announce Doors open", "announcement")
            assert reply is not None
            markup = reply.get("reply_markup") or {}
            data = next(
                button["callback_data"]
                for row in markup.get("inline_keyboard", [])
                for button in row
                if button.get("callback_data", "").startswith("bcast:confirm:")
            )

            confirmed = await organiser.confirm_broadcast(reply, data, "confirm")
        finally:
            await monitor.dispose()

    assert confirmed is False
    assert organiser.steps[-1].ok is False
    assert timeline.entries[-1].kind == "problem"
    assert "did not confirm" in timeline.entries[-1].text
