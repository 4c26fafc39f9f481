"""The results index: every completed output in one DuckDB database, queryable with SQL.

The JSONL files under ``<outputs_dir>`` stay the source of truth; ``<outputs_dir>/index.duckdb``
is rebuilt from them on demand and kept up to date incrementally after every run. See
``docs/index.md`` for the tables and example queries.
"""

from runner.index.db import DB_NAME, db_path, read_connection, write_connection
from runner.index.errors import (
    IndexBusyError,
    IndexMissingError,
    QueryError,
    ReadOnlyQueryError,
    ResultsIndexError,
)
from runner.index.report import IndexReport, SkippedLine
from runner.index.update import update_index

__all__ = [
    "DB_NAME",
    "IndexBusyError",
    "IndexMissingError",
    "IndexReport",
    "QueryError",
    "ReadOnlyQueryError",
    "ResultsIndexError",
    "SkippedLine",
    "db_path",
    "read_connection",
    "update_index",
    "write_connection",
]
