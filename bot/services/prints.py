"""Print jobs as organisers see them: the recent ones, for /hardware and /reprint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import PrintJob


@dataclass(frozen=True)
class PrintJobView:
    id: int
    kind: str
    status: str
    created_at: datetime
    printed_at: datetime | None
    reprint_of: int | None
    label: str


async def recent(db: Database, limit: int = 10) -> list[PrintJobView]:
    """Return the newest print jobs, newest first."""
    async with db.transaction(readonly=True) as session:
        rows = await session.scalars(select(PrintJob).order_by(PrintJob.id.desc()).limit(limit))
        return [_view(row) for row in rows]


def _view(row: PrintJob) -> PrintJobView:
    payload = row.payload or {}
    label = str(payload.get("code") or payload.get("item") or payload.get("text") or "")
    return PrintJobView(
        id=row.id,
        kind=row.kind,
        status=row.status.value,
        created_at=row.created_at,
        printed_at=row.printed_at,
        reprint_of=row.reprint_of,
        label=label[:40],
    )
