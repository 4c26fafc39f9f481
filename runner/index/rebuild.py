"""``--rebuild`` without a gap: build a new index beside the old one, then swap it in.

Queries keep reading the old ``index.duckdb`` while the new one is built in
``index.duckdb.rebuild-<pid>.tmp`` (the shared lock is held meanwhile, so other writers wait
and readers do not). Only the swap takes the exclusive lock: the tables the indexer does not
own (``evaluations``) and their views are copied over from the old file, and ``os.replace``
puts the new one in its place in one step. A query sees the old index or the new one, never
an empty or missing one; a rebuild that fails leaves the old index as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import duckdb
from loguru import logger

from runner.index import schema
from runner.index.db import (
    DEFAULT_WAIT_S,
    checkpoint_uncapped,
    db_path,
    disk_full_error,
    open_writer,
)
from runner.index.lock import index_lock
from runner.index.scores import refresh_scores
from runner.processes import process_alive


def _wal(path: Path) -> Path:
    """DuckDB's write-ahead log of a database file."""
    return path.with_name(path.name + ".wal")


def rebuild_index(
    outputs_dir: Path,
    fill: Callable[[duckdb.DuckDBPyConnection], None],
    *,
    wait: float = DEFAULT_WAIT_S,
) -> None:
    """Build a fresh index with ``fill`` (given a connection to the new, empty file), swap it in.

    Raises:
        IndexBusyError: another process kept the index for more than ``wait`` seconds.
    """
    final = db_path(outputs_dir)
    tmp = final.with_name(f"{final.name}.rebuild-{os.getpid()}.tmp")
    try:
        _build_and_swap(final, tmp, fill, wait)
    except duckdb.Error as exc:
        raise disk_full_error(final, exc) or exc from None
    finally:
        for leftover in (tmp, _wal(tmp)):
            leftover.unlink(missing_ok=True)


def _build_and_swap(
    final: Path, tmp: Path, fill: Callable[[duckdb.DuckDBPyConnection], None], wait: float
) -> None:
    """Build the new index in ``tmp`` under the shared lock, then swap it in exclusively."""
    for leftover in (tmp, _wal(tmp)):
        leftover.unlink(missing_ok=True)  # our own pid's, from a rebuild that was killed
    with index_lock(final, exclusive=False, timeout=wait):
        con = open_writer(tmp)
        try:
            schema.ensure_schema(con)
            fill(con)
            checkpoint_uncapped(con)
        finally:
            con.close()
    with index_lock(final, exclusive=True, timeout=wait):
        _carry_over(tmp, final)
        # The old file's log must not be replayed into the new file.
        _wal(final).unlink(missing_ok=True)
        os.replace(tmp, final)
        _remove_killed_rebuilds(final)


def _remove_killed_rebuilds(final: Path) -> None:
    """Remove the files of rebuilds that were killed (``kill -9``): each is a whole index.

    Only those whose process is gone: another rebuild may be waiting to swap its file in.
    """
    for stale in final.parent.glob(f"{final.name}.rebuild-*.tmp"):
        pid = stale.name.removeprefix(f"{final.name}.rebuild-").removesuffix(".tmp")
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        for leftover in (stale, _wal(stale)):
            leftover.unlink(missing_ok=True)
        logger.info("results index: removed {}, left by a rebuild that was killed", stale)


def _carry_over(tmp: Path, final: Path) -> None:
    """Copy the tables the indexer does not own, and every view, from ``final`` into ``tmp``."""
    con = open_writer(tmp)
    try:
        if final.is_file():
            try:
                _copy_kept(con, final)
            except duckdb.Error as exc:
                logger.warning(
                    "results index: the old {} is unreadable ({}); its evaluations are not "
                    "kept (re-index them with `python -m runner.evaluate ... resume=`)",
                    final,
                    str(exc).splitlines()[0],
                )
        refresh_scores(con)  # the new responses' mean scores, from the evaluations kept
        checkpoint_uncapped(con)
    finally:
        con.close()


def _copy_kept(con: duckdb.DuckDBPyConnection, old: Path) -> None:
    """Copy ``old``'s non-managed tables and its views into ``con``'s database."""
    con.execute(f"ATTACH {schema.literal(str(old))} AS old_index (READ_ONLY)")
    try:
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'old_index'"
        ).fetchall()
        views = con.execute(
            "SELECT sql FROM duckdb_views() WHERE database_name = 'old_index' AND NOT internal"
        ).fetchall()
        con.execute("BEGIN TRANSACTION")
        for (name,) in tables:
            if name in schema.MANAGED_TABLES:
                continue
            table = schema.quote(str(name))
            con.execute(f"DROP TABLE IF EXISTS main.{table}")
            con.execute(f"CREATE TABLE main.{table} AS SELECT * FROM old_index.{table}")
        con.execute("COMMIT")
    finally:
        con.execute("DETACH old_index")
    for (sql,) in views:
        # Views name their tables unqualified: with the old file detached they read the new.
        con.execute(str(sql).replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
