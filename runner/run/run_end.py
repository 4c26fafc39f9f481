"""A run's last two steps side by side: the index updated while the report is written.

Both read the finished run folder and neither needs the other: the index update (DuckDB,
which releases the GIL while it reads the JSONL) runs in a thread while the report renders
here. Both are done when :func:`index_beside_report` returns, so what the run prints after
it is true when the process exits: the report's path exists, and ``runner.query`` sees the
run's rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def index_beside_report(
    update_index: Callable[[], None] | None,
    report: Callable[[], T],
    stopped: Callable[[], None] = lambda: None,
) -> T:
    """``report()``'s result, with ``update_index()`` run meanwhile in a thread (if given).

    What the update raises is raised here, once the report is written. A stop meanwhile
    (Ctrl-C, SIGTERM) calls ``stopped()`` first: the run is complete, these two are not.
    """
    try:
        return _beside(update_index, report)
    except KeyboardInterrupt:
        stopped()
        raise


def _beside(update_index: Callable[[], None] | None, report: Callable[[], T]) -> T:
    if update_index is None:
        return report()
    failed: list[BaseException] = []

    def update() -> None:
        try:
            update_index()
        except BaseException as exc:  # handed to the caller's thread below
            failed.append(exc)

    worker = threading.Thread(target=update, name="runner-index", daemon=False)
    worker.start()
    try:
        return report()
    finally:
        worker.join()
        if failed:
            raise failed[0]
