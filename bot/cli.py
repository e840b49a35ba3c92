"""The `micropop` command line: run, db upgrade, rehearse, hardware."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import typer
from pydantic import ValidationError

from bot.errors import ConfigError
from bot.rehearsal.options import DEFAULT_ATTENDEES, DEFAULT_BEACONS, DEFAULT_SPEED
from bot.settings import DatabaseSettings, Settings, load_database_settings, load_settings

app = typer.Typer(help="micropop: run a micro-popup night through Telegram.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"micropop: {exc}", err=True)
        raise typer.Exit(code=2) from None


def _configure_logging(settings: Settings) -> None:
    from bot.logs import configure_logging

    secrets = [
        settings.bot_token.get_secret_value(),
        settings.signing_secret.get_secret_value(),
        settings.webhook_secret.get_secret_value(),
        *settings.venue_token_map().keys(),
    ]
    configure_logging(settings.log_level, secrets)


def _exit_bad_input(prefix: str, exc: Exception) -> typer.Exit:
    typer.echo(f"{prefix}: {exc}", err=True)
    return typer.Exit(code=2)


@app.command()
def run() -> None:
    """Run the bot service: Telegram updates, scheduler, delivery workers and the web app."""
    from bot.startup_checks import check_run_settings

    settings = _settings_or_exit()
    try:
        check_run_settings(settings)
    except ConfigError as exc:
        raise _exit_bad_input("micropop", exc) from None
    _configure_logging(settings)
    from bot.service import BotService

    try:
        asyncio.run(BotService(settings).run_until_signal())
    except ConfigError as exc:
        raise _exit_bad_input("micropop", exc) from None


def _database_settings_or_exit() -> DatabaseSettings:
    from bot.logs import configure_logging
    from bot.startup_checks import check_database_directory

    try:
        settings = load_database_settings()
        check_database_directory(settings)
    except ConfigError as exc:
        raise _exit_bad_input("micropop db", exc) from None
    configure_logging(settings.log_level, [])
    return settings


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target Alembic revision.")) -> None:
    """Migrate the database in MICROPOP_DATABASE_URL to the newest schema (or REVISION)."""
    settings = _database_settings_or_exit()
    from alembic.util import CommandError

    from bot.db import migrate
    from bot.db.engine import create_database

    async def upgrade() -> None:
        database = create_database(settings.database_url)
        try:
            await migrate.upgrade(database, revision)
        finally:
            await database.dispose()

    try:
        asyncio.run(upgrade())
    except CommandError as exc:
        typer.echo(
            f"micropop db upgrade: invalid revision {revision!r} ({exc}): use head or a revision "
            f"id from {migrate.MIGRATIONS_DIR / 'versions'}",
            err=True,
        )
        raise typer.Exit(code=2) from None
    typer.echo(f"Database at revision {revision}.")


def _integer(text: str) -> int:
    """Parse a whole-number option, naming the rejected value (Typer's own message omits it)."""
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a whole number, e.g. 20") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number, e.g. 240 or 0.5") from None


@app.command()
def rehearse(
    directory: Path | None = typer.Option(
        None,
        "--dir",
        help="Directory for the rehearsal's databases, replaced on each run (default: a "
        "temporary one).",
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Directory for report.html, figures.json, rehearsal.log and the print previews "
        "(default: ./rehearsal-report, or DIR/report with --dir).",
    ),
    attendees: int = typer.Option(
        DEFAULT_ATTENDEES,
        "--attendees",
        parser=_integer,
        help="Simulated guests, 1 to 5000.",
    ),
    speed: float = typer.Option(
        DEFAULT_SPEED,
        "--speed",
        parser=_number,
        help="How many times faster than real time the 4-hour night runs (240: one minute, "
        "1: real time). Stretches that need more time under Telegram's limits get it, taken "
        "back from quieter stretches as far as they can spare it.",
    ),
    faults: str = typer.Option(
        "",
        "--faults",
        help="Faults to inject, comma-separated: uplink-drop, printer-offline, flood-429, "
        "bot-restart, or all.",
    ),
    beacons: str = typer.Option(
        DEFAULT_BEACONS,
        "--beacons",
        help="Venue beacons as ADDRESS=PROFILE pairs; real addresses (AA:BB:CC:DD:EE:FF) are "
        "written over Bluetooth, sim:NAME ones are simulated.",
    ),
    printer: str | None = typer.Option(
        None,
        "--printer",
        help="Venue printer URI such as tcp://192.0.2.10:9100 (default: PNG previews in the "
        "report directory).",
    ),
    seed: int = typer.Option(
        1, "--seed", parser=_integer, help="Seed of the simulated crowd's choices."
    ),
    json_output: bool = typer.Option(
        False, "--json", help="Print the figures as one JSON line last on stdout."
    ),
) -> None:
    """Rehearse a whole night offline: the real bot against the built-in Bot API emulator.

    Exits 0 when every invariant held, 1 when one broke (named in the output), 2 on invalid
    options.
    """
    from bot.rehearsal.options import RehearsalOptions, parse_faults
    from bot.rehearsal.runner import run_rehearsal

    try:
        fault_names = parse_faults(faults)
    except ConfigError as exc:
        typer.echo(f"micropop rehearse: {exc}", err=True)
        raise typer.Exit(code=2) from None
    options = RehearsalOptions(
        directory=directory,
        report=report,
        attendees=attendees,
        speed=speed,
        faults=fault_names,
        beacons=beacons,
        printer=printer,
        seed=seed,
        json_output=json_output,
    )
    try:
        status = asyncio.run(run_rehearsal(options))
    except KeyboardInterrupt:
        # Ctrl-C before the rehearsal installed its own handler, during start-up.
        typer.echo("micropop rehearse: interrupted during start-up, no report written", err=True)
        status = 130
    sys.exit(status)


@app.command()
def hardware() -> None:
    """Run the venue daemon: follow the bot's feed, write beacons, print slips and receipts.

    Configured by MICROPOP_HW_* variables: MICROPOP_HW_BOT_URL, MICROPOP_HW_VENUE_TOKEN,
    MICROPOP_HW_BEACONS (e.g. AA:BB:CC:DD:EE:FF=eddystone), MICROPOP_HW_PRINTER
    (e.g. tcp://192.0.2.10:9100 or preview:///tmp/prints) and MICROPOP_HW_STATE_FILE.
    """
    from hardware.config import DaemonConfig
    from hardware.daemon import run_daemon
    from hardware.errors import ConfigError as HardwareConfigError

    from bot.startup_checks import check_sqlite_file

    try:
        config = DaemonConfig()
        check_sqlite_file("MICROPOP_HW_STATE_FILE", config.state_file)
    except (HardwareConfigError, ConfigError, ValidationError) as exc:
        typer.echo(f"micropop hardware: {_describe(exc)}", err=True)
        raise typer.Exit(code=2) from None
    from bot.logs import configure_logging

    level = os.environ.get("MICROPOP_LOG_LEVEL", "INFO").upper()
    configure_logging(level, [config.venue_token.get_secret_value()])

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_daemon(config, stop=stop)

    try:
        asyncio.run(run())
    except HardwareConfigError as exc:
        typer.echo(f"micropop hardware: {exc}", err=True)
        raise typer.Exit(code=2) from None


def _describe(exc: Exception) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    return "; ".join(
        f"MICROPOP_HW_{str(error['loc'][0]).upper()} is invalid ({error.get('input')!r}): "
        f"{str(error['msg']).removeprefix('Value error, ')}"
        for error in exc.errors()
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
