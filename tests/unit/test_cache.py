"""The response cache: runs opening a new cache at once.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_cache.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

from runner.cache.store import CacheStore


def _open_together(folder: Path, start: threading.Barrier, failures: list[Exception]) -> None:
    start.wait()
    try:
        CacheStore(folder).close()
    except Exception as exc:
        failures.append(exc)


def test_runs_opening_a_new_cache_at_once_all_open_it(tmp_path: Path) -> None:
    """Six openers released together on a new file, 40 times (SQLite's WAL switch refuses
    the losers at once, busy handler or not: CI saw a run fail so)."""
    for round_ in range(40):
        start = threading.Barrier(6)
        failures: list[Exception] = []
        args = (tmp_path / str(round_), start, failures)
        openers = [threading.Thread(target=_open_together, args=args) for _ in range(6)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
        assert failures == []
