"""A run's results file as an in-memory DuckDB table, read in bounded memory."""

from __future__ import annotations

import glob
from pathlib import Path

import duckdb

from runner.report.table import Table

# DuckDB's memory cap while the report reads a run's results (it spills past it).
REPORT_MEMORY = "64MB"
_COLUMNS = {
    "response": "JSON",
    "api": "VARCHAR",
    "model_name": "VARCHAR",
    "status": "VARCHAR",
    "error": "VARCHAR",
    "error_kind": "VARCHAR",
    "attempts": "BIGINT",
    "latency_s": "DOUBLE",
    # Older results lack the cache and reasoning counts: read as NULL.
    "usage": "STRUCT(input_tokens BIGINT, output_tokens BIGINT, cached_input_tokens BIGINT, "
    "cache_write_tokens BIGINT, reasoning_tokens BIGINT)",
    "rate_group": "VARCHAR",
    "prompt_key": "VARCHAR",
    "prompt": "JSON",
    "line": "BIGINT",
    "cost_usd": "DOUBLE",
    "cached": "BOOLEAN",
    # A template experiment's (runner.prompts.expand): variants compare as models do.
    "prompt_variant": "VARCHAR",
    "row_id": "VARCHAR",
    "repeat": "BIGINT",
}


def literal(path: Path) -> str:
    """``path`` as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def read_literal(path: Path) -> str:
    """``path`` as a literal for DuckDB's readers, which glob it: ``[``, ``*``, ``?`` as written.

    The run of experiment ``a[1]`` was read as ``a1``'s, ``st*r``'s with ``start``'s too.
    """
    return "'" + glob.escape(str(path)).replace("'", "''") + "'"


def open_results(
    completed: Path, spill: Path, *, resumed: bool = True
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB over ``completed``: the view ``raw`` and the table ``r``."""
    # Bounded whatever the run's size: a 1,000,000-prompt run's report spills to ``spill``
    # rather than holding every line in memory at the end of the run.
    con = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": REPORT_MEMORY,
            "threads": 1,
            "preserve_insertion_order": False,
            "temp_directory": str(spill),
        },
    )
    con.execute("SET enable_progress_bar = false")
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _COLUMNS.items()) + "}"
    con.execute(
        f"CREATE VIEW raw AS SELECT * FROM read_json({read_literal(completed)}, "
        f"format = 'newline_delimited', columns = {columns}, ignore_errors = true)"
    )
    # The last line of a prompt wins (a resumed run may have retried it; a run never resumed
    # has one line a prompt, and skips the window). Prompt and error text are kept
    # (shortened) for failed prompts only: the examples are all that shows them.
    last_wins = (
        " QUALIFY row_number() OVER (PARTITION BY prompt_key ORDER BY line DESC) = 1 "
        "OR prompt_key IS NULL"
    )
    # Written to a Parquet file in ``spill`` and read from there: a table of ten million
    # results did not fit the cap, even in a database file (COPY streams, in bounded memory).
    table = literal(spill / "results.parquet")
    con.execute(
        "COPY (SELECT api, model_name, status, error_kind, attempts, latency_s, "
        "usage, rate_group, prompt_key, line, cost_usd, cached, row_id, repeat, "
        "coalesce(model_name, api, '?') || coalesce(' · ' || prompt_variant, '') AS model, "
        "CASE WHEN status <> 'ok' THEN left(CAST(prompt AS VARCHAR), 2000) END AS prompt, "
        "CASE WHEN status <> 'ok' THEN left(error, 300) END AS error FROM raw"
        + (last_wins if resumed else "")
        + f") TO {table} (FORMAT parquet, ROW_GROUP_SIZE 16384)"
    )
    con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet({table})")
    return con


def frame(con: duckdb.DuckDBPyConnection, sql: str) -> Table:
    """The rows of ``sql`` as a Table."""
    return Table.of(con.execute(sql))
