"""Errors of the results index and of queries against it."""

from __future__ import annotations

import duckdb

from runner.errors import RunnerError

# What DuckDB says when the disk refused a write (its own text, or the OS's in it).
_WRITE_FAILED = ("no space left on device", "disk quota exceeded", "file too large")


class ResultsIndexError(RunnerError):
    """Base class of every error raised by the results index."""


class IndexBusyError(ResultsIndexError):
    """Another process holds the index lock for longer than we were willing to wait."""


class IndexDiskFullError(ResultsIndexError):
    """The disk refused a write to the index (it is full); the index is not broken."""


class IndexMissingError(ResultsIndexError):
    """There is no index database yet (or no outputs folder) where the user pointed."""

    exit_code = 2


class QueryError(ResultsIndexError):
    """A query failed: DuckDB's message is the error's message."""

    exit_code = 2


class ReadOnlyQueryError(QueryError):
    """A statement would change the database; queries are read-only."""


def disk_refused(exc: BaseException) -> str | None:
    """The line of DuckDB's error saying the disk refused a write (full); else ``None``.

    Such an error is the disk's, not a file's: it must stop the update, never send a file
    down the bad-line pass (where every line would fail the same way).
    """
    if not isinstance(exc, duckdb.Error):
        return None
    for line in str(exc).splitlines():
        if any(word in line.lower() for word in _WRITE_FAILED):
            return line.strip()
    return None
