"""The line each prompt key was first seen on, in bounded memory at any experiment size.

Pass one over an experiment (runner.prompts.plan) tells a repeated ``id`` from a new one as
it streams. A dict of every key costs ~120 bytes a key: 1.2 GB at ten million prompts, the
whole run's peak. Past :data:`IN_MEMORY_KEYS` keys the dict moves into a temporary SQLite
database on disk (deleted when closed), whose cache is bounded; lookups stay exact.
"""

from __future__ import annotations

import sqlite3

# Keys kept in a dict (~12 MB) before they move to disk: every usual experiment stays here.
IN_MEMORY_KEYS = 100_000
# SQLite's page cache for the keys on disk (KiB, as a negative cache_size).
_CACHE_KIB = 16 * 1024
_INSERT = "INSERT OR IGNORE INTO seen VALUES (?, ?)"
_FIRST = "SELECT line FROM seen WHERE key = ?"


class SeenKeys:
    """Keys and the line each was first seen on: a dict while small, then SQLite on disk."""

    def __init__(self, in_memory: int | None = None) -> None:
        self._lines: dict[str, int] = {}
        self._in_memory = IN_MEMORY_KEYS if in_memory is None else in_memory
        self._db: sqlite3.Connection | None = None

    def first_line(self, key: str, line: int) -> int:
        """The line ``key`` was first seen on; ``line`` (and remembered) when it is new."""
        if self._db is None:
            first = self._lines.setdefault(key, line)
            if len(self._lines) > self._in_memory:
                self._spill()
            return first
        if self._db.execute(_INSERT, (key, line)).rowcount:
            return line
        row = self._db.execute(_FIRST, (key,)).fetchone()
        return int(row[0])

    def _spill(self) -> None:
        """Move the keys to a temporary database (its file goes when it is closed)."""
        db = sqlite3.connect("", isolation_level=None)
        # Scratch data, gone at close: no journal, no syncing; one open transaction.
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        db.execute("BEGIN")
        db.executemany(_INSERT, self._lines.items())
        self._lines = {}
        self._db = db

    def close(self) -> None:
        """Forget every key (the temporary database and its file go)."""
        self._lines = {}
        if self._db is not None:
            self._db.close()
            self._db = None
