"""A scan of every table for traces of one person: their ids, chat id, name or username."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Base


async def personal_traces(
    db: Database, *, numbers: Iterable[int], words: Iterable[str]
) -> list[str]:
    """Return `table.column = value` for every cell that holds one of the numbers or words.

    Integers match exactly, text and JSON cells match when they contain a word. Pick numbers
    that no row id or count could take by chance, e.g. 7_000_000_101.
    """
    numbers, words = set(numbers), [word for word in words if word]
    found = []
    async with db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    if _matches(value, numbers, words):
                        found.append(f"{table.name}.{column} = {value!r}")
    return found


def _matches(value: object, numbers: set[int], words: list[str]) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        return value in numbers
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return any(word in value for word in words) or any(str(n) in value for n in numbers)
    return False
