"""Read-only SQL over the results index, as DataFrames: :func:`query_df`, :func:`run_responses`.

The first line of defence is the connection (:func:`open_readonly`): opened read-only with
external access off and its configuration locked, it can reach no file but the index, and no
``SET`` can change that. The statement check (:mod:`runner.query.check`) is the second: only
statements that read are let through, so a stray ``DELETE`` or ``COPY`` is refused with a
clear message rather than DuckDB's.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from runner.index.db import DB_NAME, DEFAULT_WAIT_S, read_connection
from runner.index.errors import QueryError, ReadOnlyQueryError
from runner.index.schema import RESPONSE_COLUMNS
from runner.paths import DEFAULT_OUTPUTS_DIR
from runner.query.check import check_read_only, first_line, parse, split_settings

# What DuckDB says when the sealed connection stops a statement the check let through.
_SEALED_MARKS = (
    "read-only mode",
    "disabled by configuration",
    "disabled through configuration",
    "configuration has been locked",
)


@contextmanager
def open_readonly(
    path: Path | str,
    *,
    wait: float = DEFAULT_WAIT_S,
    settings: dict[str, str] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A sealed read-only DuckDB connection to the index, for any code that reads it.

    ``path`` is the index file (``.../index.duckdb``) or the outputs folder holding it. The
    connection holds the shared index lock while open (an update waits for it), so keep it
    for one request, not for a session. It cannot write, cannot reach any other file
    (``read_csv``, ``ATTACH``, ``COPY``, ``INSTALL`` fail) and no ``SET`` can undo that.
    ``settings`` (session settings such as ``TimeZone``) are applied before it is sealed.

    Raises:
        IndexMissingError: there is no index yet.
        IndexBusyError: an update kept the index for more than ``wait`` seconds.
    """
    path = Path(path)
    outputs_dir = path.parent if path.name == DB_NAME and not path.is_dir() else path
    with read_connection(outputs_dir, wait=wait, settings=settings) as con:
        yield con


@contextmanager
def run_sql(
    outputs_dir: Path, sql: str, *, wait: float = DEFAULT_WAIT_S
) -> Iterator[tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyRelation]]:
    """Check ``sql``, open a sealed connection with its settings, yield it and the last result.

    Raises:
        QueryError: the SQL is wrong (DuckDB's message); ReadOnlyQueryError if it writes.
        IndexMissingError: there is no index yet.
        IndexBusyError: the index stayed busy for ``wait`` seconds.
    """
    settings, rest = split_settings(check_read_only(sql))
    with open_readonly(outputs_dir, wait=wait, settings=settings) as con:
        yield con, execute(con, rest)


def to_frame(result: duckdb.DuckDBPyRelation | duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """A result as a DataFrame, quiet about a pandas deprecation DuckDB trips inside itself."""
    with warnings.catch_warnings():
        # DuckDB 2.0 calls DataFrame.drop(inplace=True), which pandas 3.1 warns about; the
        # warning is not the user's to act on.
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.drop")
        frame: pd.DataFrame = result.df()
    return frame


def execute(
    con: duckdb.DuckDBPyConnection, sql: str | list[duckdb.Statement]
) -> duckdb.DuckDBPyRelation:
    """Run checked statements (or check ``sql`` first); returns the result of the last one.

    Several statements run in order and the last one's result is returned. A query made only
    of SET statements returns one row saying the settings were applied.

    Raises:
        QueryError: the SQL is wrong, with DuckDB's message.
        ReadOnlyQueryError: a statement would write or reach a file.
    """
    statements = check_read_only(sql) if isinstance(sql, str) else sql
    if not statements:
        statements = parse("SELECT 'settings applied' AS result")
    try:
        for statement in statements[:-1]:
            # Run to its end (its errors are the user's to see); its rows are not wanted.
            con.execute(statement)
            con.complete()
        rel = con.sql(statements[-1].query)
    except duckdb.Error as exc:
        message = first_line(exc)
        if any(mark in message.lower() for mark in _SEALED_MARKS):
            raise ReadOnlyQueryError(
                f"refused: {message}. Queries read only the index; to save a result use --out FILE."
            ) from None
        raise QueryError(message) from None
    if rel is None:  # pragma: no cover - every reading statement yields a relation
        raise QueryError("the statement returned no result")
    return rel


def query_df(
    sql: str,
    outputs_dir: Path | str = DEFAULT_OUTPUTS_DIR,
    *,
    refresh: bool = False,
    wait: float = DEFAULT_WAIT_S,
) -> pd.DataFrame:
    """Run a read-only query on ``<outputs_dir>/index.duckdb`` and return a DataFrame.

    Args:
        sql: one or more statements; the last one's result is returned.
        outputs_dir: the folder holding the runs and the index.
        refresh: bring the index up to date first (reads only what is new).
        wait: seconds to wait if an update is writing the index.

    Raises:
        QueryError: the SQL is wrong (DuckDB's message); ReadOnlyQueryError if it writes.
        IndexMissingError: there is no index yet.
        IndexBusyError: the index stayed busy for ``wait`` seconds.
    """
    outputs_dir = Path(outputs_dir)
    if refresh:
        from runner.index.update import update_index  # only queries that refresh need it

        update_index(outputs_dir, wait=wait)
    with run_sql(outputs_dir, sql, wait=wait) as (_, rel):
        try:
            frame = to_frame(rel)
        except duckdb.Error as exc:
            raise QueryError(first_line(exc)) from None
    return frame


def run_responses(
    run_id: str,
    outputs_dir: Path | str = DEFAULT_OUTPUTS_DIR,
    *,
    refresh: bool = False,
    wait: float = DEFAULT_WAIT_S,
) -> pd.DataFrame:
    """Every response of one run, in input order, without other experiments' empty columns.

    Raises:
        QueryError: no run has this id.
        IndexMissingError: there is no index yet.
        IndexBusyError: the index stayed busy for ``wait`` seconds.
    """
    outputs_dir = Path(outputs_dir)
    if refresh:
        from runner.index.update import update_index

        update_index(outputs_dir, wait=wait)
    with open_readonly(outputs_dir, wait=wait) as con:
        frame = to_frame(
            con.execute(
                "SELECT * FROM responses WHERE run_id = $run ORDER BY line, source_file",
                {"run": run_id},
            )
        )
        if frame.empty:
            known = con.execute(
                "SELECT count(*) FROM runs WHERE run_id = $run", {"run": run_id}
            ).fetchone()
            if not known or not known[0]:
                raise QueryError(
                    f"no run with id {run_id!r} in the index; list them with "
                    '`python -m runner.query "SELECT run_id, experiment, started_at FROM runs"`.'
                )
    # Columns other experiments' keys added are all NULL here: noise for this run.
    fixed = {c.name for c in RESPONSE_COLUMNS} | {"record", "source_file"}
    empty = [c for c in frame.columns if c not in fixed and frame[c].isna().all()]
    return frame.drop(columns=empty)
