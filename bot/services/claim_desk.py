"""Group commit for claim presses: presses that arrive together are decided in one transaction.

At T-0 hundreds of presses arrive within a second. One transaction per press spends most of
its time on connection set-up, BEGIN and COMMIT, and on SQLite every writer also queues on the
database lock with the busy handler's sleeps. A desk per database instead takes every waiting
press, locks each drop row once, reads the attendees, replays and per-person counts as sets,
and decides the presses in arrival order. The winners' units are then taken by one
conditional UPDATE (`remaining >= winners`) in the same transaction as their claim rows, so
the stock row, its CHECK (remaining >= 0) and the unique keys stay the judges of every claim;
the desk only removes the per-press overhead.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Update, any_, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import BigInteger, Integer, String, TypeEngine

from bot.db.engine import Database
from bot.db.models import Attendee, Claim, ClaimStatus, Drop, DropStatus, Event, PrintJob
from bot.db.types import utcnow
from bot.services import venue_feed
from bot.services.claims import (
    ClaimOutcome,
    ClaimResult,
    ClaimView,
    receipt_print_payload,
)
from bot.services.drops import DropView, to_view
from bot.services.receipts import ReceiptLinks, hold_deadline, new_code

logger = logging.getLogger(__name__)

# Enough for a whole rush in one or two transactions, small enough to keep one short.
MAX_BATCH = 500
# A retry only follows a conflict: a receipt code drawn twice (about 1 in 10^9 per pair) or a
# race the row lock did not order. The batch is then decided again from scratch.
MAX_ATTEMPTS = 3

_DROP_COLUMNS = [
    *Drop.__table__.columns,
    Event.title.label("event_title"),
    Event.time_zone.label("event_time_zone"),
]


@dataclass(frozen=True)
class Press:
    drop_id: int
    telegram_user_id: int
    request_key: str
    now: datetime
    receipt_links: ReceiptLinks


class ClaimDesk:
    """Queues presses for one database and decides them in batches, one batch at a time."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[tuple[Press, asyncio.Future[ClaimResult]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, press: Press) -> ClaimResult:
        future: asyncio.Future[ClaimResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((press, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                results = await decide_with_retries(self.db, [press for press, _ in batch])
            except Exception:  # noqa: BLE001 - every waiting press must get an answer
                logger.exception("Claim batch failed, deciding one by one: presses=%s", len(batch))
                # One bad press must not fail the others, so each is decided on its own.
                await self._decide_alone(batch)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _decide_alone(self, batch: list[tuple[Press, asyncio.Future[ClaimResult]]]) -> None:
        for press, future in batch:
            try:
                (result,) = await decide_with_retries(self.db, [press])
            except Exception as exc:  # noqa: BLE001 - the press's caller gets the error
                logger.exception(
                    "Claim press failed: drop_id=%s user_id=%s",
                    press.drop_id,
                    press.telegram_user_id,
                )
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(result)


_desks: weakref.WeakKeyDictionary[object, ClaimDesk] = weakref.WeakKeyDictionary()


def desk_for(db: Database) -> ClaimDesk:
    """Return the desk of a database, one per engine, made on first use."""
    key = db.engine.sync_engine
    desk = _desks.get(key)
    if desk is None:
        desk = _desks[key] = ClaimDesk(db)
    return desk


async def decide_with_retries(db: Database, presses: list[Press]) -> list[ClaimResult]:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with db.transaction() as session:
                return await decide(session, presses)
        except (IntegrityError, _StockChanged) as exc:
            if attempt == MAX_ATTEMPTS:
                raise
            logger.warning(
                "Claim batch retried after a conflict: presses=%s attempt=%s error=%s",
                len(presses),
                attempt,
                getattr(exc, "orig", exc),
            )
    raise AssertionError("unreachable")


async def decide(session: AsyncSession, presses: list[Press]) -> list[ClaimResult]:
    """Decide every press inside the caller's transaction; results follow the presses' order."""
    connection = await session.connection()
    results: dict[int, ClaimResult] = {}
    by_drop: dict[int, list[int]] = {}
    for index, press in enumerate(presses):
        by_drop.setdefault(press.drop_id, []).append(index)
    # Drop rows are locked in id order, so two processes' batches cannot deadlock.
    for drop_id in sorted(by_drop):
        indexes = by_drop[drop_id]
        decided = await _decide_drop(session, connection, drop_id, [presses[i] for i in indexes])
        results.update(zip(indexes, decided, strict=True))
    return [results[index] for index in range(len(presses))]


async def _decide_drop(
    session: AsyncSession, connection: AsyncConnection, drop_id: int, presses: list[Press]
) -> list[ClaimResult]:
    row = await _locked_drop(connection, drop_id)
    if row is None:
        return [ClaimResult(ClaimOutcome.NOT_FOUND) for _ in presses]
    # Everything below is read after the row lock, so it includes every claim committed on
    # this drop before ours (READ COMMITTED on PostgreSQL; SQLite holds the write lock).
    drop = to_view(row)
    users = {press.telegram_user_id for press in presses}
    attendees = await _attendee_ids(connection, drop.event_id, users)
    replays = await _replays(connection, {press.request_key for press in presses})
    held = await _held_counts(connection, drop_id, set(attendees.values()))

    results: list[ClaimResult] = []
    winners: list[tuple[int, dict[str, object]]] = []
    remaining = drop.remaining
    for press in presses:
        attendee_id = attendees.get(press.telegram_user_id)
        outcome = _refusal(drop, press, attendee_id, held, remaining, replays)
        if outcome is not None:
            results.append(ClaimResult(outcome, drop=replace(drop, remaining=remaining)))
            continue
        remaining -= 1
        held[attendee_id] += 1
        replays[press.request_key] = None  # a repeated key later in this batch is a replay
        winners.append((len(results), _claim_values(drop_id, attendee_id, held, press)))
        results.append(ClaimResult(ClaimOutcome.CLAIMED, drop=replace(drop, remaining=remaining)))

    if winners:
        earliest = min(presses[index].now for index, _ in winners)
        last_index = winners[-1][0]
        # The row lock keeps sold_out_at as read, so this is the first sell-out exactly when
        # the batch takes the last unit and the row has none recorded (a restock keeps it).
        sold_out_now = remaining == 0 and drop.sold_out_at is None
        sold_out_at = presses[last_index].now if sold_out_now else None
        await _take_units(connection, drop_id, len(winners), earliest, sold_out_at)
        await _insert_claims(
            session, drop, (row.event_title, row.event_time_zone), winners, results, presses
        )
        if sold_out_now:
            results[last_index] = replace(results[last_index], announce_sold_out=True)
            logger.info("Drop sold out: drop_id=%s", drop.id)
    return _fill_replays(drop, results, replays, presses)


def _refusal(
    drop: DropView,
    press: Press,
    attendee_id: int | None,
    held: Counter[int],
    remaining: int,
    replays: dict[str, Row | None],
) -> ClaimOutcome | None:
    if press.request_key in replays:
        return ClaimOutcome.REPLAYED
    if attendee_id is None:
        return ClaimOutcome.NOT_REGISTERED
    if drop.cancelled:
        return ClaimOutcome.CANCELLED
    if drop.starts_at > press.now:
        return ClaimOutcome.NOT_STARTED
    if held[attendee_id] >= drop.per_person_limit:
        return ClaimOutcome.LIMIT_REACHED
    if remaining <= 0:
        return ClaimOutcome.SOLD_OUT
    return None


class _StockChanged(Exception):
    """The locked drop row did not match what the batch read; the batch is decided again."""


async def _take_units(
    connection: AsyncConnection,
    drop_id: int,
    units: int,
    now: datetime,
    sold_out_at: datetime | None,
) -> None:
    # One conditional UPDATE takes the units of every winner in this batch. Under the row
    # lock it always matches; if it does not, nothing of the batch is kept.
    result = await connection.execute(_take_units_statement(drop_id, units, now, sold_out_at))
    if not result.rowcount:
        raise _StockChanged(f"drop {drop_id} had fewer than {units} units under its row lock")


def _take_units_statement(
    drop_id: int, units: int, now: datetime, sold_out_at: datetime | None
) -> Update:
    """Build the UPDATE that takes `units`, recording the sell-out when `sold_out_at` is given."""
    statement = update(Drop).where(
        Drop.id == drop_id,
        Drop.remaining >= units,
        Drop.status == DropStatus.SCHEDULED,
        Drop.starts_at <= now,
    )
    values: dict[str, object] = {"remaining": Drop.remaining - units}
    if sold_out_at is not None:
        statement = statement.where(Drop.sold_out_at.is_(None))
        values["sold_out_at"] = sold_out_at
    return statement.values(values)


def _claim_values(
    drop_id: int, attendee_id: int, held: Counter[int], press: Press
) -> dict[str, object]:
    return {
        "drop_id": drop_id,
        "attendee_id": attendee_id,
        # seq runs 1..per_person_limit; the unique (drop, attendee, seq) key backs the count.
        "seq": held[attendee_id],
        "code": new_code(),
        "request_key": press.request_key,
        "status": ClaimStatus.HELD,
        "created_at": press.now,
    }


async def _insert_claims(
    session: AsyncSession,
    drop: DropView,
    event: tuple[str, str],
    winners: list[tuple[int, dict[str, object]]],
    results: list[ClaimResult],
    presses: list[Press],
) -> None:
    connection = await session.connection()
    inserted = await connection.execute(
        insert(Claim).returning(Claim.id, sort_by_parameter_order=True),
        [values for _, values in winners],
    )
    jobs = []
    for (index, values), claim_id in zip(winners, inserted.scalars().all(), strict=True):
        press = presses[index]
        url = press.receipt_links.url(claim_id)
        view = ClaimView(
            id=claim_id,
            drop_id=drop.id,
            attendee_id=values["attendee_id"],  # type: ignore[arg-type]
            seq=values["seq"],  # type: ignore[arg-type]
            code=values["code"],  # type: ignore[arg-type]
            status=ClaimStatus.HELD.value,
            created_at=press.now,
            hold_expires_at=hold_deadline(press.now, drop.hold_minutes),
        )
        results[index] = replace(results[index], claim=view, receipt_url=url)
        payload = receipt_print_payload(event[0], drop.title, view.code, press.now, url, event[1])
        jobs.append(
            {
                "event_id": drop.event_id,
                "kind": "receipt",
                "claim_id": claim_id,
                "payload": payload,
            }
        )
    job_ids = await connection.execute(
        insert(PrintJob).returning(PrintJob.id, sort_by_parameter_order=True), jobs
    )
    feed_payloads = [
        {**job["payload"], "print_job_id": job_id, "layout": "receipt"}
        for job, job_id in zip(jobs, job_ids.scalars().all(), strict=True)
    ]
    await venue_feed.publish_many(session, "receipt", feed_payloads)
    logger.info(
        "Claims made: drop_id=%s count=%s remaining=%s",
        drop.id,
        len(winners),
        results[winners[-1][0]].drop.remaining,  # type: ignore[union-attr]
    )


def _fill_replays(
    drop: DropView,
    results: list[ClaimResult],
    replays: dict[str, Row | None],
    presses: list[Press],
) -> list[ClaimResult]:
    """Attach the original claim to every replayed press."""
    made = {
        presses[i].request_key: result.claim
        for i, result in enumerate(results)
        if result.outcome is ClaimOutcome.CLAIMED
    }
    filled = []
    for press, result in zip(presses, results, strict=True):
        if result.outcome is ClaimOutcome.REPLAYED:
            original = replays.get(press.request_key)
            view = made.get(press.request_key) or _view_of(original, drop)
            url = press.receipt_links.url(view.id)
            result = replace(result, claim=view, receipt_url=url)
        filled.append(result)
    return filled


def _view_of(row: Row | None, drop: DropView) -> ClaimView:
    assert row is not None
    status = ClaimStatus(row.status)
    return ClaimView(
        id=row.id,
        drop_id=row.drop_id,
        attendee_id=row.attendee_id,
        seq=row.seq,
        code=row.code,
        status=status.value,
        created_at=row.created_at,
        hold_expires_at=(
            hold_deadline(row.created_at, drop.hold_minutes)
            if status == ClaimStatus.HELD
            else None
        ),
    )


async def prepare_statements(connection: AsyncConnection) -> None:
    """Run the statements of a claim decision that need no rows once on `connection`.

    The service calls this on each pooled connection at start, so the first rush finds
    SQLAlchemy's compiled statements cached and, on PostgreSQL, asyncpg's statements prepared.
    Preparing them during the first rush took 25 to 30 ms, about half of its decision time
    (bench/claims.py, 2-core x86_64 box, PostgreSQL 15).
    """
    await _locked_drop(connection, 0)
    await _attendee_ids(connection, 0, {0})
    await _replays(connection, {""})
    await _held_counts(connection, 0, {0})
    if connection.dialect.name == "postgresql":
        # No drop has id 0, so both forms of the UPDATE match no row and change nothing.
        # SQLite is left out: a write there would wait for its write lock.
        now = utcnow()
        await connection.execute(_take_units_statement(0, 1, now, None))
        await connection.execute(_take_units_statement(0, 1, now, now))


async def _locked_drop(connection: AsyncConnection, drop_id: int) -> Row | None:
    result = await connection.execute(
        select(*_DROP_COLUMNS)
        .join(Event, Event.id == Drop.event_id)
        .where(Drop.id == drop_id)
        .with_for_update(of=Drop)
    )
    return result.first()


async def _attendee_ids(
    connection: AsyncConnection, event_id: int, users: set[int]
) -> dict[int, int]:
    rows = await connection.execute(
        select(Attendee.telegram_user_id, Attendee.id).where(
            Attendee.event_id == event_id,
            _one_of(connection, Attendee.telegram_user_id, users, BigInteger()),
        )
    )
    return {user_id: attendee_id for user_id, attendee_id in rows}


async def _replays(connection: AsyncConnection, keys: set[str]) -> dict[str, Row | None]:
    rows = await connection.execute(
        select(*Claim.__table__.columns).where(
            _one_of(connection, Claim.request_key, keys, String())
        )
    )
    return {row.request_key: row for row in rows}


async def _held_counts(
    connection: AsyncConnection, drop_id: int, attendee_ids: set[int]
) -> Counter[int]:
    # Released claims count too: their seq stays taken, and the limit is per person per drop.
    rows = await connection.execute(
        select(Claim.attendee_id, func.count())
        .where(
            Claim.drop_id == drop_id,
            _one_of(connection, Claim.attendee_id, attendee_ids, Integer()),
        )
        .group_by(Claim.attendee_id)
    )
    return Counter({attendee_id: count for attendee_id, count in rows})


def _one_of(
    connection: AsyncConnection,
    column: ColumnElement[Any],
    values: set[Any],
    element_type: TypeEngine[Any],
) -> ColumnElement[bool]:
    """Match `column` against a set of values, as one array parameter on PostgreSQL.

    `IN` renders one parameter per value, so each batch size is a new statement for
    SQLAlchemy to render and for PostgreSQL to prepare. `= ANY(array)` keeps one statement
    for every batch. SQLite has no arrays and keeps `IN`.
    """
    if connection.dialect.name != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, list(values), type_=ARRAY(element_type)))
