"""Where the index lives and how to open it: writers exclusively, readers read-only.

Every connection is opened inside :func:`runner.index.lock.index_lock`, so a writer waits for
readers and readers wait for a writer instead of failing on DuckDB's own file lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from loguru import logger

from runner.index.errors import IndexBusyError, IndexMissingError, ResultsIndexError
from runner.index.lock import index_lock

DB_NAME = "index.duckdb"

# Seconds to wait for another process's lock before giving up with IndexBusyError.
DEFAULT_WAIT_S = 10.0


def db_path(outputs_dir: Path) -> Path:
    """The index database of an outputs folder."""
    return Path(outputs_dir) / DB_NAME


def _open(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Connect, turning DuckDB's file-lock and corruption errors into messages with a next step."""
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise IndexBusyError(
                f"index is busy: {path} is open in another program (a DuckDB shell or "
                "notebook?); close it and try again."
            ) from None
        raise ResultsIndexError(
            f"cannot open the index {path}: {exc}. Rebuild it with "
            f"`python -m runner.index --outputs-dir {path.parent} --rebuild`."
        ) from None
    except duckdb.Error as exc:
        raise ResultsIndexError(
            f"cannot open the index {path}: {exc}. Rebuild it with "
            f"`python -m runner.index --outputs-dir {path.parent} --rebuild`."
        ) from None
    # Timestamps read back in UTC, as the runs wrote them, whatever the machine's zone.
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB's progress bar writes to stdout, where it would corrupt a CSV or JSON export.
    con.execute("SET enable_progress_bar = false")
    return con


@contextmanager
def write_connection(
    outputs_dir: Path, *, wait: float = DEFAULT_WAIT_S, replace_broken: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the index, holding the exclusive lock while it is open.

    For code that adds its own rows (the ``evaluations`` table); the indexer uses it too.
    ``replace_broken`` deletes a database DuckDB cannot open and starts an empty one (the
    JSONL files are the source of truth, so a rebuild loses nothing but ``evaluations``).

    Raises:
        IndexBusyError: another process kept the index for more than ``wait`` seconds.
    """
    path = db_path(outputs_dir)
    with index_lock(path, exclusive=True, timeout=wait):
        try:
            con = _open(path, read_only=False)
        except IndexBusyError:
            raise
        except ResultsIndexError:
            if not replace_broken:
                raise
            logger.warning("results index: {} is unreadable; starting a new one", path)
            for stale in (path, path.with_name(path.name + ".wal")):
                stale.unlink(missing_ok=True)
            con = _open(path, read_only=False)
        try:
            yield con
        finally:
            con.close()


@contextmanager
def read_connection(
    outputs_dir: Path, *, wait: float = DEFAULT_WAIT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the index; several readers may hold one at once.

    Raises:
        IndexMissingError: there is no index yet.
        IndexBusyError: an update kept the index for more than ``wait`` seconds.
    """
    path = db_path(outputs_dir)
    if not path.is_file():
        raise IndexMissingError(
            f"no results index at {path}; build it with "
            f"`python -m runner.index --outputs-dir {path.parent}`."
        )
    with index_lock(path, exclusive=False, timeout=wait):
        con = _open(path, read_only=True)
        try:
            yield con
        finally:
            con.close()
