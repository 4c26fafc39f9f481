"""Show a query result as a terminal table, or export it as CSV, JSON or Parquet."""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import duckdb
import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from runner.index.schema import quote
from runner.visible import SQL_SPREADSHEET_CELL, visible

FORMATS = ("table", "csv", "json", "parquet")

# Longest cell shown in the terminal table; exports are never cut.
MAX_CELL = 60

# Vectors (2,048 rows each) fetched per chunk while exporting.
CHUNK_VECTORS = 4

# Memory cap of the scratch database that writes an export; past it, DuckDB spills to disk.
SCRATCH_MEMORY = "128MB"

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
    text = visible(str(value).replace("\r", " ").replace("\n", " "))
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_table(frame: pd.DataFrame, more: bool, out: TextIO | None = None) -> None:
    """Print ``frame`` as a table; ``more`` says rows were left out, and how to get them."""
    stream = out if out is not None else sys.stdout
    # A terminal's width fits the table to it; piped output is not wrapped at 80 columns.
    width = None if stream.isatty() else 240
    console = Console(file=stream, width=width, highlight=False, soft_wrap=False)
    table = Table(show_lines=False, header_style="bold")
    # Text, not str: rich would read "[/INST]" or "[link=...]" in data as its markup.
    for name in frame.columns:
        table.add_column(Text(visible(str(name))), overflow="fold")
    for row in frame.itertuples(index=False, name=None):
        table.add_row(*(Text(_cell(v)) for v in row))
    console.print(table)
    n = len(frame)
    footer = f"{n} row{'s' if n != 1 else ''}"
    if more:
        footer += " shown; more rows exist (raise --limit, or export them with --out FILE)"
    console.print(footer, markup=False)


def export(
    con: duckdb.DuckDBPyConnection,
    rel: duckdb.DuckDBPyRelation,
    fmt: str,
    out: Path | None,
    limit: int | None,
) -> int:
    """Write every row of ``rel`` (up to ``limit``) to ``out``, or stdout when None.

    Returns the number of rows written. The query's own connection is sealed and cannot write
    a file, so the rows are fetched from it in chunks and handed to a scratch in-memory DuckDB
    that never sees the user's SQL; that one writes the file, with every column cast back to
    its type so nested JSON stays nested in JSON exports and types survive in Parquet.
    """
    source = rel if limit is None else rel.limit(limit)
    with tempfile.TemporaryDirectory(prefix="runner-query-") as scratch_dir:
        target = out if out is not None else Path(scratch_dir) / f"result.{fmt}"
        rows = _write(con, source, fmt, target, Path(scratch_dir))
        if out is None:
            sys.stdout.flush()
            with open(target, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)  # streamed: results can be large
            sys.stdout.buffer.flush()
    return rows


def _write(
    con: duckdb.DuckDBPyConnection,
    rel: duckdb.DuckDBPyRelation,
    fmt: str,
    target: Path,
    spill: Path,
) -> int:
    """Copy ``rel``'s rows into a scratch database, then have it write ``target``."""
    names = [quote(name) for name in rel.columns]
    types = [str(t) for t in rel.types]
    scratch = duckdb.connect(
        ":memory:",
        config={"memory_limit": SCRATCH_MEMORY, "temp_directory": str(spill / "spill")},
    )
    try:
        scratch.execute("SET enable_progress_bar = false")
        scratch.execute("SET TimeZone = 'UTC'")
        columns = ", ".join(f"{n} {t}" for n, t in zip(names, types, strict=True))
        scratch.execute(f"CREATE TABLE result ({columns})")
        casts = ", ".join(
            _cast(f"chunk.{quote(c)}", t, fmt) for c, t in zip(rel.columns, types, strict=True)
        )
        # One pandas frame of a few thousand rows at a time: memory stays flat.
        for chunk in _chunks(con, rel):
            scratch.register("chunk", chunk)
            scratch.execute(f"INSERT INTO result SELECT {casts} FROM chunk")
            scratch.unregister("chunk")
        path = str(target).replace("'", "''")
        row = scratch.execute(f"COPY result TO '{path}' ({_COPY_OPTIONS[fmt]})").fetchone()
    finally:
        scratch.close()
    return int(row[0]) if row else 0


def _cast(column: str, kind: str, fmt: str) -> str:
    """``column`` as written: in CSV, a text cell a spreadsheet would run leads with a '."""
    cast = f"CAST({column} AS {kind})"
    return SQL_SPREADSHEET_CELL.format(cast) if fmt == "csv" and kind == "VARCHAR" else cast


def _chunks(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation) -> Iterator[pd.DataFrame]:
    """``rel``'s rows as DataFrames of a few thousand rows each, streamed from ``con``."""
    # A relation keeps no result to fetch from in parts; its SQL on a cursor streams.
    result = con.cursor().execute(rel.sql_query())
    while True:
        with warnings.catch_warnings():
            # DuckDB 2.0 calls DataFrame.drop(inplace=True), which pandas 3.1 warns about.
            warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.drop")
            chunk = result.fetch_df_chunk(CHUNK_VECTORS)
        if chunk.empty:
            return
        yield chunk
