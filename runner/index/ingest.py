"""Load new JSONL lines into ``responses``: DuckDB parses, Python only steps in for bad files.

The fast path hands every new file (or a temp copy of each new byte range) to DuckDB's
``read_json_objects`` in one query, so a million lines never pass through ``json.loads``. A
malformed line fails the whole query without a line number we can trust, so the file named in
the error is set aside, the rest is retried, and that file gets a Python pass that keeps the
good lines and reports the bad ones by file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from loguru import logger

from runner.index import schema
from runner.index.errors import disk_refused
from runner.index.ingest_sql import (
    NOT_OBJECT,
    Source,
    discover,
    files_with_non_objects,
    insert,
)
from runner.index.lines import line_number_at, line_problem, longest_line
from runner.index.report import SkippedLine
from runner.index.scan import Slice
from runner.index.state import forget_rows, mark_files

# Bad lines logged one by one per file before the rest are only counted.
_LOG_LINES = 5

# DuckDB's default ``maximum_object_size`` (16 MiB). A file with a longer line fails the read;
# it is retried alone with the limit raised to fit its longest line, so no line is too big.
DEFAULT_MAX_OBJECT = 16 * 1024 * 1024

# The longest line indexed. DuckDB must hold a value whole in one block, also when it later
# checkpoints under the writer's memory cap (runner.index.db.WRITER_MEMORY): a 200 MB line
# failed that checkpoint, which invalidated the database for every later run and rebuild.
# A longer line is skipped alone, with a warning naming its file and line.
MAX_LINE = 64 * 1024 * 1024

# What DuckDB's message says when a line is longer than ``maximum_object_size``.
_TOO_BIG = "maximum_object_size"


@contextmanager
def _room_for(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Lift the memory cap for a batch of huge lines, read by one thread; then restore it.

    DuckDB's JSON reader holds buffers of twice ``maximum_object_size`` per thread, and
    compressing a 50 MB value allocates 256 MB at once: such a line cannot fit the writer's
    usual cap, and one such file must not fail the index. DuckDB's default cap applies to it.
    """
    row = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('threads')"
    ).fetchone()
    assert row is not None
    con.execute("SET threads = 1")
    con.execute("RESET memory_limit")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = {schema.literal(str(row[0]))}")
        con.execute(f"SET threads = {int(row[1])}")


def _fits(length: int) -> int:
    """A ``maximum_object_size`` that fits a line of ``length`` bytes: the next whole MiB."""
    return ((length >> 20) + 1) << 20


def _too_long(length: int) -> str | None:
    if length <= MAX_LINE:
        return None
    return (
        f"a line of {length >> 20} MB, longer than the index takes ({MAX_LINE >> 20} MB); "
        "it stays in the run's file"
    )


def _numbered_lines(sl: Slice) -> Iterator[tuple[int, bytes]]:
    """The lines of a slice with their line numbers, read one at a time from the file."""
    first_line = line_number_at(sl.path, sl.start)
    if sl.data is not None:
        yield from enumerate(sl.data.split(b"\n"), start=first_line)
        return
    with open(sl.path, "rb") as f:
        f.seek(sl.start)
        left = sl.end - sl.start
        n = first_line
        while left > 0:
            raw = f.readline(left)
            if not raw:
                return
            left -= len(raw)
            yield n, raw.rstrip(b"\n")
            n += 1


@dataclass
class IngestResult:
    """Rows added and lines skipped by one :func:`ingest`."""

    rows_added: int = 0
    skipped: list[SkippedLine] = field(default_factory=list)


class _Ingest:
    """One ingest: a connection, a scratch folder, and what was done so far."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tmp: Path) -> None:
        self.con = con
        self.tmp = tmp
        self.result = IngestResult()
        self._copies = 0
        self.max_object = DEFAULT_MAX_OBJECT

    def copy(self, data: bytes) -> str:
        """Write bytes to a scratch file DuckDB can read; returns its path."""
        self._copies += 1
        path = self.tmp / f"range-{self._copies}.jsonl"
        with open(path, "wb") as f:
            f.write(data)
            if data and not data.endswith(b"\n"):
                f.write(b"\n")
        return str(path)

    def run(self, sources: list[Source]) -> None:
        """Index ``sources`` as one batch, splitting it around files DuckDB cannot read."""
        if not sources:
            return
        self.max_object = max([DEFAULT_MAX_OBJECT] + [_fits(s.longest) for s in sources])
        if self.max_object == DEFAULT_MAX_OBJECT:
            self._batch(sources)
            return
        with _room_for(self.con):
            self._batch(sources)
            # Still uncapped: written to disk now, the huge values are not pinned again by
            # the next commit under the cap (that failed, and a failed commit may be fatal).
            self.con.execute("CHECKPOINT")

    def _batch(self, sources: list[Source]) -> None:
        """Discover the keys of ``sources``, then insert them in one transaction."""
        try:
            found = discover(self.con, [s.read_path for s in sources], self.max_object)
        except duckdb.Error as exc:
            if disk_refused(exc):
                raise
            self._split(sources, exc)
            return
        if NOT_OBJECT in found:
            bad = files_with_non_objects(self.con, sources, self.max_object)
            self._split(sources, None, culprits=bad)
            return
        try:
            self.con.execute("BEGIN TRANSACTION")
            self.result.rows_added += insert(self.con, sources, found, self.max_object)
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            if disk_refused(exc):
                raise  # a commit the disk refused has no transaction left to roll back
            self.con.execute("ROLLBACK")
            self._split(sources, exc)

    def _split(
        self,
        sources: list[Source],
        exc: duckdb.Error | None,
        culprits: Sequence[Source] = (),
    ) -> None:
        """Retry a failed batch without its bad files; give those the line-by-line pass."""
        if exc is not None and not culprits:
            match = re.search(r'file "([^"]+)"', str(exc))
            named = match.group(1) if match else None
            culprits = [s for s in sources if s.read_path == named]
        if not culprits and len(sources) > 1:
            half = len(sources) // 2  # no file named: bisect until the bad one is alone
            self.run(sources[:half])
            self.run(sources[half:])
            return
        if not culprits:
            culprits = sources
        rest = [s for s in sources if s not in culprits]
        too_big = exc is not None and _TOO_BIG in str(exc)
        for source in culprits:
            if too_big and not source.longest:
                # A line longer than DuckDB reads by default: measure, and read it alone.
                source.longest = longest_line(Path(source.read_path))
                too_long = source.longest > MAX_LINE and not source.cleaned
                self.run([self._clean(source) if too_long else source])
            elif source.cleaned:
                self._give_up(source, exc)
            else:
                self.run([self._clean(source)])
        self.run(rest)

    def _clean(self, source: Source) -> Source:
        """Pass a file line by line in Python: keep good lines, report bad ones."""
        sl = source.slice
        good: list[bytes] = []
        bad: list[SkippedLine] = []
        for n, raw in _numbered_lines(sl):
            if not raw.strip():
                continue
            reason = _too_long(len(raw)) or line_problem(raw)
            if reason is None:
                good.append(raw)
            else:
                bad.append(SkippedLine(sl.rel, n, reason))
        self._report(bad)
        sl.skipped_lines = bad
        longest = max((len(raw) for raw in good), default=0)
        return Source(sl, self.copy(b"\n".join(good)), cleaned=True, longest=longest)

    def _give_up(self, source: Source, exc: duckdb.Error | None) -> None:
        """Even the cleaned lines failed: skip the range, say so, and move past it."""
        sl = source.slice
        why = str(exc).splitlines()[0] if exc is not None else "unreadable"
        skipped = [SkippedLine(sl.rel, 0, f"lines from byte {sl.start} not indexed: {why}")]
        self._report(skipped)
        sl.skipped_lines = [*sl.skipped_lines, *skipped]
        self.con.execute("BEGIN TRANSACTION")
        mark_files(self.con, [sl])
        self.con.execute("COMMIT")

    def _report(self, bad: list[SkippedLine]) -> None:
        """Log bad lines (a few per file, then a count) and keep them for the report."""
        for item in bad[:_LOG_LINES]:
            logger.warning("results index: skipped {}", item)
        if len(bad) > _LOG_LINES:
            logger.warning(
                "results index: ... and {} more bad line(s) in {}",
                len(bad) - _LOG_LINES,
                bad[0].file,
            )
        self.result.skipped.extend(bad)


def ingest(con: duckdb.DuckDBPyConnection, slices: list[Slice], tmp: Path) -> IngestResult:
    """Index the new bytes of every slice; never raises for a bad line.

    Args:
        con: a read-write connection inside the index lock.
        slices: what :func:`runner.index.scan.plan_slice` decided to read.
        tmp: a scratch folder for copies of byte ranges, removed by the caller.
    """
    job = _Ingest(con, tmp)
    sources: list[Source] = []
    empty: list[Slice] = []
    for sl in slices:
        if sl.whole_file:
            sources.append(Source(sl, str(sl.path)))
        elif sl.data and sl.data.strip():
            sources.append(Source(sl, job.copy(sl.data)))
        else:
            empty.append(sl)
    job.run(sources)
    if empty:
        # Nothing new to read, but the stat (and any reset) must still be remembered.
        con.execute("BEGIN TRANSACTION")
        forget_rows(con, [s.rel for s in empty if s.reset])
        mark_files(con, empty)
        con.execute("COMMIT")
    return job.result
