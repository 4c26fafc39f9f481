"""The viewer's reads of the index: fixed, parameterised SQL only (no user SQL ever runs).

Every call opens the index read-only through :func:`runner.index.db.read_connection` (the
path :func:`runner.query.api.query_df` uses) and closes it before the page is drawn, so the
viewer never holds the index while a run updates it. Paging happens in DuckDB.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from runner.index.db import read_connection

PAGE_SIZES = (25, 50, 100, 200)
# Results pages: what a filter can name, mapped to its column.
RESULT_FILTERS = {
    "run": "run_id",
    "status": "status",
    "error_kind": "error_kind",
    "model": "model_name",
    "experiment": "experiment",
    "variant": "prompt_variant",  # a template experiment's prompt variant
}


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


def _read(outputs_dir: Path) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    return read_connection(outputs_dir, memory_limit=VIEWER_MEMORY)


def _records(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def runs(
    outputs_dir: Path, experiment: str = "", model: str = "", since: str = ""
) -> list[dict[str, Any]]:
    """Runs newest first, filtered by experiment, model name and start date."""
    where, params = ["TRUE"], {}
    if experiment:
        where.append("experiment = $experiment")
        params["experiment"] = experiment
    if model:
        where.append("list_contains(model_names, $model)")
        params["model"] = model
    if since:
        where.append("started_at >= CAST($since AS DATE)")
        params["since"] = since
    with _read(outputs_dir) as con:
        return _records(
            con,
            "SELECT run_id, experiment, status, CAST(started_at AS VARCHAR) AS started_at, "
            "total, n_ok, n_error, "
            "array_to_string(model_names, ', ') AS models, wall_time_s FROM runs "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT 500",
            params,
        )


def run_dir(outputs_dir: Path, run_id: str) -> Path | None:
    """The folder of run ``run_id``, only when it lies inside ``outputs_dir``."""
    with _read(outputs_dir) as con:
        row = con.execute("SELECT run_dir FROM runs WHERE run_id = $id", {"id": run_id}).fetchone()
    if not row or not row[0]:
        return None
    root = outputs_dir.resolve()
    folder = Path(str(row[0]))
    folder = (folder if folder.is_absolute() else root / folder).resolve()
    return folder if folder.is_relative_to(root) else None


def results(outputs_dir: Path, filters: dict[str, str], text: str, page: int, size: int) -> Page:
    """One page of responses matching ``filters`` (exact) and ``text`` (in prompt or answer)."""
    where, params = ["TRUE"], {}
    for key, column in RESULT_FILTERS.items():
        if filters.get(key):
            where.append(f'"{column}" = ${key}')
            params[key] = filters[key]
    if text:
        # The text is matched as typed: its % and _ are not wildcards.
        where.append(
            "(prompt ILIKE $text ESCAPE '\\' OR response ILIKE $text ESCAPE '\\' "
            "OR error ILIKE $text ESCAPE '\\')"
        )
        escaped = text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        params["text"] = f"%{escaped}%"
    clause = " AND ".join(where)
    with _read(outputs_dir) as con:
        count = con.execute(f"SELECT count(*) FROM responses WHERE {clause}", params).fetchone()
        rows = _records(
            con,
            "SELECT run_id, experiment, prompt_key, model_name, prompt_variant, status, "
            "error_kind, attempts, latency_s, left(prompt, 200) AS prompt, "
            "left(coalesce(response, error), 300) AS answer "
            f"FROM responses WHERE {clause} ORDER BY run_id DESC, line "
            "LIMIT $size OFFSET $offset",
            {**params, "size": size, "offset": (page - 1) * size},
        )
    return Page(rows, int(count[0]) if count else 0, page, size)


def experiments(outputs_dir: Path) -> list[str]:
    """Every experiment in the index."""
    with _read(outputs_dir) as con:
        return [
            str(r[0])
            for r in con.execute("SELECT DISTINCT experiment FROM runs ORDER BY 1").fetchall()
        ]


# The newest run per model of one experiment: the columns of the matrix.
# The newest run per model, all its shards (runner.shards: <run>.shard<K>of<N>) together.
_RUN = r"regexp_replace(run_id, '\.shard[0-9]+of[0-9]+$', '')"
_LATEST = (
    "latest AS (SELECT model_name, run_id FROM (SELECT DISTINCT model_name, run_id "
    "FROM responses WHERE experiment = $experiment) "
    f"QUALIFY {_RUN} = max({_RUN}) OVER (PARTITION BY model_name))"
)


def matrix(outputs_dir: Path, experiment: str, page: int, size: int) -> tuple[list[str], Page]:
    """A prompt x model matrix of ``experiment``'s newest run per model: answer and score."""
    with _read(outputs_dir) as con:
        models = [
            str(r[0])
            for r in con.execute(
                f"WITH {_LATEST} SELECT DISTINCT model_name FROM latest ORDER BY 1",
                {"experiment": experiment},
            ).fetchall()
        ]
        # Only the page's prompts are joined with their answers and scores.
        base = (
            f"WITH {_LATEST}, answers AS (SELECT r.prompt, r.prompt_key, r.line, r.run_id, "
            "r.model_name, r.response, r.status, r.error FROM responses r "
            "JOIN latest USING (model_name, run_id) WHERE r.experiment = $experiment)"
        )
        count = con.execute(
            f"{base} SELECT count(DISTINCT prompt) FROM answers", {"experiment": experiment}
        ).fetchone()
        rows = _records(
            con,
            f"{base}, prompts AS (SELECT prompt, min(line) AS line, min(prompt_key) AS prompt_key "
            "FROM answers GROUP BY prompt ORDER BY line, prompt LIMIT $size OFFSET $offset), "
            "cells AS (SELECT a.* FROM answers a SEMI JOIN prompts USING (prompt)), "
            "scores AS (SELECT run_id, prompt_key, "
            "string_agg(step || '=' || value, ' ' ORDER BY step) AS score FROM evaluations "
            "SEMI JOIN cells USING (run_id, prompt_key) WHERE field = 'score' GROUP BY ALL) "
            "SELECT p.prompt, p.prompt_key, list(struct_pack(model := c.model_name, "
            "answer := left(coalesce(c.response, '[' || c.status || '] ' || c.error), 400), "
            "score := s.score)) AS cells "
            "FROM prompts p JOIN cells c USING (prompt) "
            "LEFT JOIN scores s ON s.run_id = c.run_id AND s.prompt_key = c.prompt_key "
            "GROUP BY p.prompt, p.prompt_key, p.line ORDER BY p.line, p.prompt",
            {"experiment": experiment, "size": size, "offset": (page - 1) * size},
        )
    for row in rows:
        row["by_model"] = {cell["model"]: cell for cell in row.pop("cells")}
    return models, Page(rows, int(count[0]) if count else 0, page, size)


def prompt_detail(
    outputs_dir: Path, experiment: str, key: str, page: int, size: int
) -> tuple[str | None, Page]:
    """One prompt of ``experiment`` (its text, or None) and one page of its answers, in any run.

    Records without an ``id`` are keyed by a hash that may include the model's name, so the
    prompt's text, not its key, joins the answers of different models. A prompt answered
    200,000 times is paged like the results: one page is in memory, never every answer.
    """
    params = {"experiment": experiment, "key": key}
    with _read(outputs_dir) as con:
        found = con.execute(
            "SELECT any_value(prompt) FROM responses "
            "WHERE experiment = $experiment AND prompt_key = $key",
            params,
        ).fetchone()
        prompt = None if found is None or found[0] is None else str(found[0])
        if prompt is None:
            return None, Page([], 0, page, size)
        where = "r.experiment = $experiment AND r.prompt = $prompt"
        ask = {"experiment": experiment, "prompt": prompt}
        count = con.execute(f"SELECT count(*) FROM responses r WHERE {where}", ask).fetchone()
        rows = _records(
            con,
            "WITH answers AS (SELECT r.run_id, r.line, r.prompt_key, r.model_name, r.api, "
            "r.response, r.status, r.error, r.error_kind, r.attempts, r.latency_s, r.input_tokens, "
            "r.output_tokens, CAST(r.timestamp_sent AS VARCHAR) AS timestamp_sent "
            f"FROM responses r WHERE {where} ORDER BY r.model_name, r.run_id, r.line "
            "LIMIT $size OFFSET $offset), "
            "scores AS (SELECT run_id, prompt_key, "
            "string_agg(step || '=' || value, ' ' ORDER BY step) AS score FROM evaluations "
            "SEMI JOIN answers USING (run_id, prompt_key) WHERE field = 'score' GROUP BY ALL) "
            "SELECT a.*, s.score FROM answers a LEFT JOIN scores s USING (run_id, prompt_key) "
            "ORDER BY a.model_name, a.run_id, a.line",
            {**ask, "size": size, "offset": (page - 1) * size},
        )
    return prompt, Page(rows, int(count[0]) if count else 0, page, size)
