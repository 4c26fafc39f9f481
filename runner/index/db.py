"""Where the index lives and how to open it: writers exclusively, readers read-only.

Every connection is opened inside :func:`runner.index.lock.index_lock`, so a writer waits for
readers and readers wait for a writer instead of failing on DuckDB's own file lock.

A read connection is sealed: DuckDB's ``enable_external_access`` is off (no file but the index
can be read or written, no extension installed or loaded) and ``lock_configuration`` is on, so
no statement run on it can switch that back. A writer is bounded in memory instead: DuckDB
spills to a temp folder next to the index rather than growing past :data:`WRITER_MEMORY`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
from loguru import logger

from runner.commands import shell_command
from runner.index.errors import (
    IndexBusyError,
    IndexDiskFullError,
    IndexMissingError,
    QueryError,
    ReadOnlyQueryError,
    ResultsIndexError,
    disk_refused,
)
from runner.index.lock import index_lock
from runner.index.schema import literal

DB_NAME = "index.duckdb"

# Seconds to wait for another process's lock before giving up with IndexBusyError.
DEFAULT_WAIT_S = 10.0

# DuckDB's memory cap for a writer. With Python, pandas and DuckDB's own code (~60 MB) it
# keeps an index update under 300 MB RSS (215 MB for 1,000,000 lines in
# bench/bench_index.py); DuckDB spills what does not fit to the temp folder.
WRITER_MEMORY = "160MB"
WRITER_THREADS = 1
NO_AUTO_CHECKPOINT = "1TB"

# Session settings a query may change on its read connection (applied before it is sealed).
# None of them reaches a file; anything else is refused.
QUERY_SETTINGS = frozenset(
    {"timezone", "calendar", "default_order", "default_null_order", "search_path", "schema"}
)


def db_path(outputs_dir: Path) -> Path:
    """The index database of an outputs folder."""
    return Path(outputs_dir) / DB_NAME


def temp_dir(outputs_dir: Path) -> Path:
    """Where a writer's DuckDB spills what does not fit in memory (DuckDB removes it)."""
    return db_path(outputs_dir).with_name(DB_NAME + ".tmp")


def _open(
    path: Path,
    *,
    read_only: bool,
    settings: Mapping[str, str] | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Connect, turning DuckDB's file-lock and corruption errors into messages with a next step.

    A read-only connection comes back sealed (see the module's docstring), with ``settings``
    applied first; a writer comes back with its memory bounded.
    """
    config: dict[str, str | bool | int | float | list[str]] = {}
    if read_only:
        # Given at connect time, before any statement can run on the connection.
        config = {"enable_external_access": False}
        if memory_limit is not None:
            # A reader with a bound (the viewer): one thread, so the bound is not split.
            config.update(memory_limit=memory_limit, threads=1)
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as exc:
        raise _cannot_open(path, exc) from None
    try:
        # Timestamps read back in UTC, as the runs wrote them, whatever the machine's zone.
        con.execute("SET TimeZone = 'UTC'")
        # DuckDB's progress bar writes to stdout, where it would corrupt a CSV or JSON export.
        con.execute("SET enable_progress_bar = false")
        if read_only:
            for name, value in (settings or {}).items():
                if name.lower() not in QUERY_SETTINGS:
                    raise ReadOnlyQueryError(
                        f"refused: SET {name} is not allowed in a query; only "
                        f"{', '.join(sorted(QUERY_SETTINGS))} can be set."
                    )
                try:
                    con.execute(f"SET {name} = {literal(value)}")
                except duckdb.Error as exc:
                    raise QueryError(f"SET {name}: {str(exc).splitlines()[0]}") from None
            con.execute("SET lock_configuration = true")
        else:
            _bound_memory(con, path)
    except BaseException:
        con.close()
        raise
    return con


def _cannot_open(path: Path, exc: duckdb.Error) -> ResultsIndexError:
    """Why DuckDB could not open ``path``, with the next step: busy, a full disk, broken."""
    full = disk_full_error(path, exc)
    if full is not None:
        return full
    if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
        return IndexBusyError(
            f"index is busy: {path} is open in another program (a DuckDB shell or "
            "notebook?); close it and try again."
        )
    return ResultsIndexError(
        f"cannot open the index {path}: {exc}. Rebuild it with "
        f"`{shell_command('runner.index', '--outputs-dir', str(path.parent), '--rebuild')}`."
    )


def _bound_memory(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Cap a writer's memory: DuckDB spills to disk and keeps no insertion order it need not."""
    con.execute(f"SET memory_limit = {literal(WRITER_MEMORY)}")
    # One thread: two threads under this cap evict and spill each other's buffers, which took
    # 2.5 times the CPU (and 20% more memory) in bench/bench_index.py for no gain in time.
    con.execute(f"SET threads = {WRITER_THREADS}")
    con.execute(f"SET temp_directory = {literal(str(temp_dir(path.parent)))}")
    # Rows need no order on disk (queries sort by line); keeping it costs memory per thread.
    con.execute("SET preserve_insertion_order = false")
    # No checkpoint mid-way under the cap: one pins a whole block per value, and a big line's
    # block failing it invalidated the database for good. checkpoint_uncapped() does it.
    con.execute(f"SET checkpoint_threshold = {literal(NO_AUTO_CHECKPOINT)}")


def checkpoint_uncapped(con: duckdb.DuckDBPyConnection) -> None:
    """Checkpoint a writer without its memory cap (one thread), before it is closed.

    A checkpoint holds each value whole: a 60 MB line needs more than the cap leaves free.
    """
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    con.execute("RESET memory_limit")
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error:
        raise  # a failed checkpoint closes the database: the cap cannot be set back
    else:
        if row is not None:
            con.execute(f"SET memory_limit = {literal(str(row[0]))}")


def open_writer(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection to the database file ``path``, memory bounded; no lock taken.

    For a file no other process knows about yet (a rebuild's new index); everything else
    goes through :func:`write_connection`.
    """
    return _open(path, read_only=False)


def disk_full_error(path: Path, exc: duckdb.Error) -> IndexDiskFullError | None:
    """The one-line error for ``exc`` when it is the disk refusing a write to ``path``."""
    refused = disk_refused(exc)
    if refused is None:
        return None
    return IndexDiskFullError(
        f"could not write the index {path}: the disk is full ({refused}); the "
        "results are intact: free some space, then update the index again"
    )


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
        except (IndexBusyError, IndexDiskFullError):
            raise  # not a broken database: never replaced
        except ResultsIndexError:
            if not replace_broken:
                raise
            logger.warning("results index: {} is unreadable; starting a new one", path)
            for stale in (path, path.with_name(path.name + ".wal")):
                stale.unlink(missing_ok=True)
            con = _open(path, read_only=False)
        try:
            yield con
            checkpoint_uncapped(con)
        except duckdb.Error as exc:
            raise disk_full_error(path, exc) or exc from None
        finally:
            con.close()


def _built(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the index has its tables: its version is stamped once every table is made."""
    # fetchall: a result left unfinished would refuse the caller's next statement.
    made = con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = 'index_meta' AND schema_name = 'main'"
    ).fetchall()
    return bool(made) and bool(
        con.execute("SELECT 1 FROM index_meta WHERE key = 'schema_version'").fetchall()
    )


@contextmanager
def read_connection(
    outputs_dir: Path,
    *,
    wait: float = DEFAULT_WAIT_S,
    settings: Mapping[str, str] | None = None,
    memory_limit: str | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A sealed read-only connection to the index; several readers may hold one at once.

    ``memory_limit`` (DuckDB's, e.g. ``"128MB"``) bounds it, one thread; unset: DuckDB's default.

    The connection reads nothing but the index and its settings cannot be changed: ``SET``,
    ``COPY ... TO``, ``ATTACH``, ``read_csv('/any/file')`` and ``INSTALL``/``LOAD`` all fail
    on it. ``settings`` (names from :data:`QUERY_SETTINGS`) are applied before it is sealed.

    Raises:
        IndexMissingError: there is no index yet.
        IndexBusyError: an update kept the index for more than ``wait`` seconds.
        ReadOnlyQueryError: a setting is not one a query may change.
    """
    path = db_path(outputs_dir)
    if not path.is_file():
        raise IndexMissingError(
            f"no results index at {path}; build it with "
            f"`{shell_command('runner.index', '--outputs-dir', str(path.parent))}`."
        )
    with index_lock(path, exclusive=False, timeout=wait):
        con = _open(path, read_only=True, settings=settings, memory_limit=memory_limit)
        try:
            if not _built(con):
                raise IndexMissingError(
                    f"the results index {path} has no tables yet (its first update was cut "
                    "off?); build it with "
                    f"`{shell_command('runner.index', '--outputs-dir', str(path.parent))}`."
                )
            yield con
        finally:
            con.close()
