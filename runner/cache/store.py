"""The cache's store: one SQLite file in WAL mode, shared by every run on the machine.

WAL lets readers go on while one process writes, and a writer waits (``busy_timeout``) for
another instead of failing, so concurrent runs share the file safely. Writes are batched:
answers wait in memory and are committed together (every ``FLUSH_EVERY`` entries or
``FLUSH_AFTER_S`` seconds, and on close) by a thread of their own (``writer.py``), so there
is no fsync per result and the event loop never waits on the disk; a crash loses at most
those unsaved entries (a later run sends them again), and SQLite's journal means it never
corrupts the file. No size cap: entries stay until ``clear``.

Tables: ``requests`` (a request's key parts, once per digest: what ``explain`` diffs),
``entries`` (an answer per digest and occurrence), ``lookups`` (per run and prompt, which
request it was and whether it hit: what ``explain`` starts from).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.cache.key import RequestKey, canonical_json
from runner.cache.writer import Batch, BatchWriter, connect
from runner.errors import ConfigError
from runner.redaction import redact

FLUSH_EVERY = 500
FLUSH_AFTER_S = 1.0
FILE_NAME = "responses.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    digest TEXT PRIMARY KEY, api TEXT NOT NULL, model TEXT NOT NULL,
    parts TEXT NOT NULL, created REAL NOT NULL
) WITHOUT ROWID;
-- No index on (api, model): one more random B-tree write per answer, for explain only,
-- which scans instead (about a second per million requests).
CREATE TABLE IF NOT EXISTS entries (
    digest TEXT NOT NULL, occurrence INTEGER NOT NULL, answer TEXT NOT NULL,
    created REAL NOT NULL, run_id TEXT NOT NULL,
    PRIMARY KEY (digest, occurrence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lookups (
    run_id TEXT NOT NULL, prompt_key TEXT NOT NULL, digest TEXT NOT NULL,
    occurrence INTEGER NOT NULL, result TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (run_id, prompt_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lookups_digest ON lookups (run_id, digest);
"""


@dataclass(frozen=True)
class Entry:
    """A cached answer: what ``Outcome`` needs back, and when it was stored."""

    answer: dict[str, Any]
    created: float
    run_id: str


@dataclass(frozen=True)
class Lookup:
    """What one prompt of a run asked the cache, and how it went."""

    digest: str
    occurrence: int
    result: str  # hit | miss | expired | refresh
    at: float


class CacheStore:
    """The SQLite file at ``folder / FILE_NAME`` (made on first use)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = connect(self.path)  # reads, on the caller's thread
            self._db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("COMMIT")
        except (sqlite3.DatabaseError, OSError) as exc:
            raise ConfigError(
                f"the response cache {self.path} cannot be used ({exc}); move that file "
                "away, choose another cache_dir=, or run with cache=off"
            ) from None
        self._writer = BatchWriter(self.path)
        self._requests: dict[str, tuple[Any, ...]] = {}
        self._entries: list[tuple[Any, ...]] = []
        self._lookups: list[tuple[Any, ...]] = []
        # Answers handed to the writer and not yet committed: still found by get().
        self._unsaved: dict[tuple[str, int], Entry] = {}
        self._last_flush = time.monotonic()

    # -- reading ---------------------------------------------------------------------------

    def get(self, digest: str, occurrence: int) -> Entry | None:
        unsaved = self._unsaved.get((digest, occurrence))
        if unsaved is not None:
            return unsaved
        row = self._db.execute(
            "SELECT answer, created, run_id FROM entries WHERE digest = ? AND occurrence = ?",
            (digest, occurrence),
        ).fetchone()
        if row is None:
            return None
        return Entry(json.loads(row[0]), row[1], row[2])

    def occurrences_used(self, run_id: str, digest: str) -> int:
        """How many prompts of ``run_id`` already asked for this request (a resume goes on)."""
        row = self._db.execute(
            "SELECT coalesce(max(occurrence) + 1, 0) FROM lookups WHERE run_id = ? AND digest = ?",
            (run_id, digest),
        ).fetchone()
        return int(row[0])

    def lookup(self, run_id: str, prompt_key: str) -> Lookup | None:
        self.flush(wait=True)
        row = self._db.execute(
            "SELECT digest, occurrence, result, at FROM lookups "
            "WHERE run_id = ? AND prompt_key = ?",
            (run_id, prompt_key),
        ).fetchone()
        return None if row is None else Lookup(*row)

    def parts(self, digest: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT parts FROM requests WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def answered(
        self, api: str, model: str, before: float, *, limit: int = 5000
    ) -> Iterator[tuple[str, Any]]:
        """(digest, parts) of the newest requests of ``api`` + ``model`` answered ``before``."""
        rows = self._db.execute(
            "SELECT r.digest, r.parts FROM requests r WHERE r.api = ? AND r.model = ? "
            "AND EXISTS (SELECT 1 FROM entries e WHERE e.digest = r.digest AND e.created < ?) "
            "ORDER BY r.created DESC LIMIT ?",
            (api, model, before, limit),
        )
        for digest, parts in rows:
            yield digest, json.loads(parts)

    def count(self, digest: str, before: float) -> int:
        """How many answers of ``digest`` were stored ``before`` (a time in seconds)."""
        row = self._db.execute(
            "SELECT count(*) FROM entries WHERE digest = ? AND created < ?", (digest, before)
        )
        return int(row.fetchone()[0])

    def stats(self) -> dict[str, Any]:
        self.flush(wait=True)
        one = self._db.execute
        entries, oldest, newest = one(
            "SELECT count(*), min(created), max(created) FROM entries"
        ).fetchone()
        by_model = one(
            "SELECT r.api, r.model, count(*) FROM entries e JOIN requests r USING (digest) "
            "GROUP BY r.api, r.model ORDER BY count(*) DESC"
        ).fetchall()
        size = sum(p.stat().st_size for p in self.path.parent.glob(FILE_NAME + "*"))
        return {
            "path": str(self.path),
            "entries": int(entries),
            "requests": int(one("SELECT count(*) FROM requests").fetchone()[0]),
            "oldest": oldest,
            "newest": newest,
            "bytes": size,
            "by_model": [(a, m, int(n)) for a, m, n in by_model],
        }

    # -- writing ---------------------------------------------------------------------------

    def note_request(self, key: RequestKey, at: float) -> None:
        """Keep the key's parts (once per digest), for ``explain``."""
        if key.digest not in self._requests:
            parts = redact(canonical_json(key.parts))
            self._requests[key.digest] = (key.digest, key.api, key.model, parts, at)

    def note_lookup(
        self, run_id: str, prompt_key: str, key: RequestKey, result: str, at: float
    ) -> None:
        """Remember how ``prompt_key`` of ``run_id`` fared (``explain`` reads it)."""
        if run_id:
            self.note_request(key, at)
            self._lookups.append((run_id, prompt_key, key.digest, key.occurrence, result, at))
            self._maybe_flush()

    def put(self, key: RequestKey, answer: dict[str, Any], run_id: str, at: float) -> None:
        """Store (or replace) the answer of ``key``; committed with the next batch."""
        self.note_request(key, at)
        # Keys never leave the process: an answer that echoes one is stored masked, as the
        # results file has it.
        stored = redact(canonical_json(answer))
        self._entries.append((key.digest, key.occurrence, stored, at, run_id))
        self._unsaved[(key.digest, key.occurrence)] = Entry(answer, at, run_id)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        pending = len(self._entries) + len(self._lookups)
        if pending >= FLUSH_EVERY or time.monotonic() - self._last_flush >= FLUSH_AFTER_S:
            self.flush()

    def flush(self, *, wait: bool = False) -> None:
        """Hand what waits in memory to the writer (one transaction); ``wait``: until saved."""
        self._last_flush = time.monotonic()
        if self._entries or self._lookups or self._requests:
            requests, entries = list(self._requests.values()), self._entries
            batch = Batch(requests, entries, self._lookups)
            self._requests, self._entries, self._lookups = {}, [], []
            unsaved = self._unsaved
            keys = [(digest, occurrence) for digest, occurrence, *_ in entries]

            def committed() -> None:  # on the writer's thread: the rows are readable now
                for key in keys:
                    unsaved.pop(key, None)

            batch.committed = committed
            self._writer.submit(batch)
        if wait:
            self._writer.wait()

    def clear(self) -> int:
        """Delete every entry (and what explain keeps); returns how many answers went."""
        self.flush(wait=True)
        self._unsaved.clear()
        count = int(self._db.execute("SELECT count(*) FROM entries").fetchone()[0])
        self._db.execute("BEGIN IMMEDIATE")
        for table in ("entries", "requests", "lookups"):
            self._db.execute(f"DELETE FROM {table}")  # fixed names, not input
        self._db.execute("COMMIT")
        self._db.execute("VACUUM")
        return count

    def close(self) -> None:
        """Commit everything, then close both connections."""
        try:
            self.flush(wait=True)
            self._writer.close()
        finally:
            self._db.close()
