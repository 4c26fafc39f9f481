"""Errors of the results index and of queries against it."""

from __future__ import annotations

from runner.errors import RunnerError


class ResultsIndexError(RunnerError):
    """Base class of every error raised by the results index."""


class IndexBusyError(ResultsIndexError):
    """Another process holds the index lock for longer than we were willing to wait."""


class IndexMissingError(ResultsIndexError):
    """There is no index database yet (or no outputs folder) where the user pointed."""

    exit_code = 2


class QueryError(ResultsIndexError):
    """A query failed: DuckDB's message is the error's message."""

    exit_code = 2


class ReadOnlyQueryError(QueryError):
    """A statement would change the database; queries are read-only."""
