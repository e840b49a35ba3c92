"""The status report a venue daemon posts to /hardware/status, checked and normalised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError


def _utc(moment: datetime) -> datetime:
    # A time without an offset is taken as UTC, the zone every daemon reports in.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# An ISO 8601 string, or a number of seconds since the Unix epoch as daemons before
# ISO reporting sent it. pydantic reads numbers above 2e10 as milliseconds.
Timestamp = Annotated[datetime, AfterValidator(_utc)]


class InvalidStatus(ValueError):
    """A status report field has a value of the wrong type or form."""


class _Report(BaseModel):
    # Fields not named here pass through unchanged, so newer daemons may report more.
    model_config = ConfigDict(extra="allow")


class PrinterReport(_Report):
    uri: str = ""
    state: str = "idle"
    queued: int = 0
    last_error: str | None = None
    last_error_at: Timestamp | None = None
    last_printed_at: Timestamp | None = None


class BeaconReport(_Report):
    address: str = ""
    profile: str = ""
    state: str = ""
    last_error: str | None = None
    last_write_at: Timestamp | None = None
    last_error_at: Timestamp | None = None


class StatusReport(_Report):
    cursor: int | None = None
    printer: PrinterReport | None = None
    beacons: list[BeaconReport] = []
    problems: list[str] = []
    queued_prints: int | None = None
    reported_at: Timestamp | None = None


def parse_status(body: dict[str, Any]) -> dict[str, Any]:
    """Check a daemon's status report and return it with every timestamp as an ISO string.

    Raises:
        InvalidStatus: a field has a value of the wrong type; the message names the field.
    """
    try:
        report = StatusReport.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        raise InvalidStatus(
            f"status field {field} is invalid: {error['msg']}, got {error.get('input')!r}. "
            "Timestamps must be ISO 8601 strings or seconds since the Unix epoch"
        ) from None
    return report.model_dump(mode="json")
