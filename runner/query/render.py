"""Show a query result as a terminal table, or export it as CSV, JSON or Parquet."""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import duckdb
import pandas as pd
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json", "parquet")

# Longest cell shown in the terminal table; exports are never cut.
MAX_CELL = 60

_COPY_OPTIONS = {
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json, ARRAY true",
    "parquet": "FORMAT parquet",
}


def _cell(value: object) -> str:
    """A value as a short one-line string for the table."""
    if value is None or value is pd.NaT:
        return "NULL"
    if isinstance(value, float):
        return "NULL" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    text = str(value).replace("\r", " ").replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_table(frame: pd.DataFrame, more: bool, out: TextIO | None = None) -> None:
    """Print ``frame`` as a table; ``more`` says rows were left out, and how to get them."""
    stream = out if out is not None else sys.stdout
    # A terminal's width fits the table to it; piped output is not wrapped at 80 columns.
    width = None if stream.isatty() else 240
    console = Console(file=stream, width=width, highlight=False, soft_wrap=False)
    table = Table(show_lines=False, header_style="bold")
    for name in frame.columns:
        table.add_column(str(name), overflow="fold")
    for row in frame.itertuples(index=False, name=None):
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
    n = len(frame)
    footer = f"{n} row{'s' if n != 1 else ''}"
    if more:
        footer += " shown; more rows exist (raise --limit, or export them with --out FILE)"
    console.print(footer)


def export(
    con: duckdb.DuckDBPyConnection,
    rel: duckdb.DuckDBPyRelation,
    fmt: str,
    out: Path | None,
    limit: int | None,
) -> int:
    """Write every row of ``rel`` (up to ``limit``) to ``out``, or stdout when None.

    Returns the number of rows written. DuckDB writes the file itself, so nested JSON stays
    nested in JSON exports and types survive in Parquet.
    """
    name = "runner_query_result"
    # Registered rather than made a view: nothing can be created in a read-only database.
    con.register(name, rel if limit is None else rel.limit(limit))
    options = _COPY_OPTIONS[fmt]
    if out is not None:
        target = out
        scratch = None
    else:
        scratch = tempfile.TemporaryDirectory(prefix="runner-query-")
        target = Path(scratch.name) / f"result.{fmt}"
    try:
        path = str(target).replace("'", "''")
        row = con.execute(f"COPY (SELECT * FROM {name}) TO '{path}' ({options})").fetchone()
        if out is None:
            sys.stdout.flush()
            with open(target, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)  # streamed: results can be large
            sys.stdout.buffer.flush()
    finally:
        con.unregister(name)
        if scratch is not None:
            scratch.cleanup()
    return int(row[0]) if row else 0
