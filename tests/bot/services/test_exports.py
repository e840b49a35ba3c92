"""The reconciliation export: records, anonymisation and safe cells."""

from __future__ import annotations

import csv
import io

from sqlalchemy import update

from bot.db.models import Attendee
from bot.services import exports
from tests.bot.services import night_fixtures

night = night_fixtures.night


def read_rows(export: exports.ExportFile) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(export.data.decode("utf-8-sig"))))


async def test_export_counts_each_record(db, night):
    export = await exports.export_night(db)

    assert export.rows == {"attendee": 3, "claim": 3, "delivery": 2, "print": 1}
    assert export.filename.startswith(f"micropop-event-{night['event'].id}-")


async def test_export_anonymises_forgotten_attendee(db, night):
    rows = read_rows(await exports.export_night(db))

    eve_rows = [row for row in rows if row["attendee_id"] == str(night["eve"].id)]
    assert {row["record"] for row in eve_rows} == {"attendee", "claim", "print"}
    for row in eve_rows:
        assert "Eve" not in row["attendee"]
        assert row["telegram_user_id"] == ""
        assert row["username"] == ""


async def test_export_names_consenting_attendee(db, night):
    rows = read_rows(await exports.export_night(db))

    ada = next(row for row in rows if row["record"] == "attendee" and row["attendee"] == "Ada")
    assert ada["telegram_user_id"] == "11"
    assert ada["username"] == "ada"


async def test_export_skips_attendee_without_consent(db, night):
    async with db.transaction() as session:
        await session.execute(
            update(Attendee).where(Attendee.id == night["ada"].id).values(consent=False)
        )

    rows = read_rows(await exports.export_night(db))

    attendee_ids = {row["attendee_id"] for row in rows if row["record"] == "attendee"}
    assert str(night["ada"].id) not in attendee_ids
    assert all(row["attendee"] != "Ada" for row in rows)


async def test_export_neutralises_formula_names(db, night):
    rows = read_rows(await exports.export_night(db))

    names = {row["attendee"] for row in rows if row["attendee_id"] == str(night["bob"].id)}
    assert names == {"'=HYPERLINK(evil)"}


async def test_export_keeps_delivery_error(db, night):
    rows = read_rows(await exports.export_night(db))

    failed = next(
        row for row in rows if row["record"] == "delivery" and row["status"] == "unreachable"
    )
    assert "bot was blocked" in failed["detail"]
