"""The service keeps its start-up objects out of later garbage collections."""

from __future__ import annotations

import gc

from bot.service import freeze_startup_heap


def test_freeze_moves_live_objects_out_of_collections():
    before = gc.get_freeze_count()
    made_before = [[] for _ in range(1000)]
    try:
        count = freeze_startup_heap()

        assert count == gc.get_freeze_count()
        assert count >= before + len(made_before)
        # Collections walk the generations, and frozen objects are in none of them.
        assert not any(candidate is made_before[0] for candidate in gc.get_objects())
        made_later: list[int] = []
        assert any(candidate is made_later for candidate in gc.get_objects())
    finally:
        # A service started earlier in this process froze its heap; leave that as it was.
        if before == 0:
            gc.unfreeze()
