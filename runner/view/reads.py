"""How the viewer reads the index: a bounded read-only connection, rows as dicts, a page."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from runner.index.db import read_connection


@dataclass
class Page:
    """One page of rows and how many rows the whole query has."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


# The viewer's queries in bounded memory: at 1,000,000 responses the matrix page took 376 MB
# with DuckDB's default (most of the machine's memory), 218 MB with this.
VIEWER_MEMORY = "128MB"


def read(outputs_dir: Path) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """The index of ``outputs_dir``, read-only, in the viewer's bounded memory."""
    return read_connection(outputs_dir, memory_limit=VIEWER_MEMORY)


def records(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The rows ``sql`` returns, each as a dict by column name."""
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def page_scores(
    con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], float]:
    """The mean score of each (run, prompt key) of ``pairs`` that has one."""
    values = ", ".join(f"($r{i}, $k{i})" for i in range(len(pairs)))
    params: dict[str, Any] = {}
    for i, (run_id, key) in enumerate(pairs):
        params[f"r{i}"], params[f"k{i}"] = run_id, key
    found = con.execute(
        f"WITH p(run_id, prompt_key) AS (VALUES {values}) SELECT run_id, prompt_key, "
        "avg(value_num) FROM evaluations SEMI JOIN p USING (run_id, prompt_key) "
        "WHERE field = 'score' GROUP BY ALL",
        params,
    ).fetchall()
    return {(str(r), str(k)): float(v) for r, k, v in found if v is not None}
