"""Options of `micropop rehearse`, with the checks that turn bad values into one clear error."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError

FAULTS = ("uplink-drop", "printer-offline", "flood-429", "bot-restart")
# A 4-hour night (19:00 to 23:00) in about one minute.
DEFAULT_SPEED = 240.0
DEFAULT_ATTENDEES = 150
# One Eddystone-URL beacon at the door for the short link, one text beacon by the stage.
DEFAULT_BEACONS = "sim:entrance=eddystone,sim:stage=nus"
DEFAULT_REPORT = Path("rehearsal-report")


@dataclass
class RehearsalOptions:
    """Everything a rehearsal run takes; the defaults need no configuration."""

    directory: Path | None = None
    report: Path | None = None
    attendees: int = DEFAULT_ATTENDEES
    speed: float = DEFAULT_SPEED
    faults: tuple[str, ...] = ()
    beacons: str = DEFAULT_BEACONS
    printer: str | None = None
    seed: int = 1
    json_output: bool = False
    # The Rich live status; tests and non-terminals may turn it off.
    live: bool = True

    def report_dir(self) -> Path:
        if self.report is not None:
            return self.report
        if self.directory is not None:
            return self.directory / "report"
        return DEFAULT_REPORT

    def printer_uri(self) -> str:
        """Return the venue printer URI: the given one, or PNG previews in the report."""
        if self.printer:
            return self.printer
        return f"preview://{(self.report_dir() / 'prints').resolve()}"


def parse_faults(text: str) -> tuple[str, ...]:
    """Parse `--faults`: names separated by commas, or `all`; raise ConfigError otherwise."""
    if not text.strip():
        return ()
    names = [part.strip().lower() for part in text.split(",")]
    if "" in names:
        raise ConfigError(
            f"Invalid --faults {text!r}: a fault name is empty; use all, or a comma-separated "
            f"list of {', '.join(FAULTS)}"
        )
    if names == ["all"]:
        return FAULTS
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        raise ConfigError(
            f"Unknown fault {unknown[0]!r}: use all, or a comma-separated list of "
            f"{', '.join(FAULTS)}"
        )
    return tuple(name for name in FAULTS if name in names)


def real_beacons(beacons: str) -> bool:
    """Tell whether `--beacons` names a beacon written over Bluetooth (not `sim:NAME`)."""
    from hardware.beacons import SIM_PREFIX, parse_beacons

    return any(not spec.address.startswith(SIM_PREFIX) for spec in parse_beacons(beacons))


def check(options: RehearsalOptions) -> None:
    """Raise ConfigError naming the first option a rehearsal cannot run with."""
    if not 1 <= options.attendees <= 5000:
        raise ConfigError(f"Invalid --attendees {options.attendees}: use 1 to 5000")
    if not 0.5 <= options.speed <= 2000:
        raise ConfigError(
            f"Invalid --speed {options.speed:g}: use 0.5 to 2000 (1 is real time, "
            f"{DEFAULT_SPEED:g} runs the 4-hour night in one minute)"
        )
    _check_directory("--dir", options.directory)
    _check_directory("--report", options.report_dir())
    printer = options.printer_uri()
    if printer.startswith("preview://"):
        _check_directory("--printer", Path(printer.removeprefix("preview://")), printer)
    from hardware.beacons import parse_beacons
    from hardware.errors import ConfigError as HardwareConfigError
    from hardware.printing import parse_printer_uri

    try:
        parse_beacons(options.beacons)
        parse_printer_uri(options.printer_uri())
    except HardwareConfigError as exc:
        raise ConfigError(str(exc).replace("MICROPOP_HW_BEACONS", "--beacons")) from None


def _check_directory(option: str, path: Path | None, given: str | None = None) -> None:
    """Create `path` and write a probe file in it, or raise ConfigError naming the option."""
    if path is None:
        return
    value = given or str(path)
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"Invalid {option} {value!r}: {str(existing)!r} is a file, not a directory; "
            "use a directory path"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(
            f"Invalid {option} {value!r}: cannot write there ({exc.strerror or exc}); "
            "use a writable directory"
        ) from None
