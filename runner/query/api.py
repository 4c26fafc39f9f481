"""Read-only SQL over the results index, as DataFrames: :func:`query_df`, :func:`run_responses`.

Queries open the database read-only and are checked before they run: only statements that
read (SELECT and friends, EXPLAIN, PRAGMA, CALL, SET) are let through, so a stray ``DELETE`` is
refused with a clear message rather than DuckDB's. Read-only mode is the second line of defence
for anything that slips past the check.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb
import pandas as pd

from runner.index.db import DEFAULT_WAIT_S, read_connection
from runner.index.errors import QueryError, ReadOnlyQueryError
from runner.index.schema import RESPONSE_COLUMNS

# Statement types that only read; SHOW, DESCRIBE, SUMMARIZE, FROM and VALUES parse as SELECT.
# SET changes only this session's settings (a time zone, say), never the file.
_READING = frozenset(
    {
        duckdb.StatementType.SELECT,
        duckdb.StatementType.EXPLAIN,
        duckdb.StatementType.PRAGMA,
        duckdb.StatementType.CALL,
        duckdb.StatementType.SET,
    }
)

DEFAULT_OUTPUTS_DIR = Path("outputs")


def first_line(exc: BaseException) -> str:
    """DuckDB's message on one line, without its drawing of where the error is."""
    text = str(exc).strip().split("\n\nLINE ", 1)[0]
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def to_frame(result: duckdb.DuckDBPyRelation | duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """A result as a DataFrame, quiet about a pandas deprecation DuckDB trips inside itself."""
    with warnings.catch_warnings():
        # DuckDB 2.0 calls DataFrame.drop(inplace=True), which pandas 3.1 warns about; the
        # warning is not the user's to act on.
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.drop")
        frame: pd.DataFrame = result.df()
    return frame


def check_read_only(sql: str) -> list[duckdb.Statement]:
    """Parse ``sql`` and refuse any statement that would change the database.

    Raises:
        QueryError: the SQL does not parse (DuckDB's message).
        ReadOnlyQueryError: a statement would write.
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(first_line(exc)) from None
    if not statements:
        raise QueryError("no SQL statement given; try: SELECT * FROM runs")
    for statement in statements:
        if statement.type not in _READING:
            kind = statement.type.name
            raise ReadOnlyQueryError(
                f"refused: {kind} would change the database, and queries are read-only. "
                "The index is rebuilt from the JSONL files with `python -m runner.index`; "
                "to save a result use --out FILE instead of COPY."
            )
    return statements


def execute(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation:
    """Check and run ``sql``; returns the result of its last statement.

    Raises:
        QueryError: the SQL is wrong, with DuckDB's message.
        ReadOnlyQueryError: a statement would write.
    """
    statements = check_read_only(sql)
    try:
        for statement in statements[:-1]:
            con.execute(statement)
        rel = con.sql(statements[-1].query)
    except duckdb.Error as exc:
        message = first_line(exc)
        if "read-only mode" in message:
            raise ReadOnlyQueryError(f"refused: {message}") from None
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
    with read_connection(outputs_dir, wait=wait) as con:
        rel = execute(con, sql)
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
    with read_connection(outputs_dir, wait=wait) as con:
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
