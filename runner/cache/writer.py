"""The cache's writes, committed in a thread of their own.

A commit of a batch takes milliseconds (more while a checkpoint runs, or while another
process holds the write lock): on the event loop it would stall every request in flight.
The store hands each batch here and goes on; this thread commits batches in order, one
transaction each, on its own connection (SQLite in WAL mode lets the loop's connection read
meanwhile). A failed commit (a full disk) is said once and later batches are dropped: the
cache is an optimisation, and every result is already in ``completed.jsonl``.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

BUSY_TIMEOUT_MS = 60_000
_WAL_POLL_S = 0.01  # the switch itself takes microseconds: one of the racers wins each poll


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the cache file: WAL, waiting for other writers, no implicit BEGIN."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _enter_wal(db)
    # NORMAL in WAL: no fsync per commit; a power cut may lose the last commits, never
    # corrupt the file.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA cache_size=-65536")  # 64 MiB: a big cache's B-tree pages stay in memory
    return db


def _enter_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL, waiting while another process does the same.

    Changing the journal mode of a new file takes an exclusive lock, and SQLite answers
    SQLITE_BUSY at once, without its busy handler, when two connections try it together
    (runs starting side by side on a new cache): so poll here, as long as the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorname != "SQLITE_BUSY" or time.monotonic() > deadline:
                raise
        time.sleep(_WAL_POLL_S)


@dataclass
class Batch:
    """Rows to commit together, and what to do once they are committed."""

    requests: list[tuple[Any, ...]]
    entries: list[tuple[Any, ...]]
    lookups: list[tuple[Any, ...]]
    committed: Callable[[], None] = field(default=lambda: None)


def commit(db: sqlite3.Connection, batch: Batch) -> None:
    """One transaction; IMMEDIATE takes the write lock first (waiting for other writers)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany("INSERT OR IGNORE INTO requests VALUES (?, ?, ?, ?, ?)", batch.requests)
        db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)", batch.entries)
        db.executemany("INSERT OR REPLACE INTO lookups VALUES (?, ?, ?, ?, ?, ?)", batch.lookups)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class BatchWriter:
    """A thread committing the batches it is given, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed: BaseException | None = None
        self._queue: queue.Queue[Batch | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="runner-cache-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        self._queue.put(batch)

    def wait(self) -> None:
        """Return once every batch submitted so far is committed (or dropped)."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            db = connect(self.path)
        except Exception as exc:
            self._fail(exc)
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    break
                if db is not None and self.failed is None:
                    commit(db, batch)
                    batch.committed()
            except Exception as exc:  # a full disk, a broken file: say it, go on
                self._fail(exc)
            finally:
                self._queue.task_done()
        if db is not None:
            db.close()

    def _fail(self, exc: Exception) -> None:
        if self.failed is None:
            self.failed = exc
            logger.warning(
                "The response cache {} could not be written ({}): answers from now on are "
                "not cached; results are unaffected",
                self.path,
                exc,
            )
