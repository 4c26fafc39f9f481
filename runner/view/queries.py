"""The viewer's reads of the index: fixed, parameterised SQL only (no user SQL ever runs).

Every call opens the index read-only through :func:`runner.index.db.read_connection` (the
path :func:`runner.query.api.query_df` uses) and closes it before the page is drawn, so the
viewer never holds the index while a run updates it. Paging happens in DuckDB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.view.reads import Page, read, records
from runner.view.results import (
    RANGES,
    RESULT_FILTERS,
    SORTS,
    result_filter,
    results,
    scored_responses,
)

# The results page's names are read from here by the viewer's pages and export.
__all__ = [
    "PAGE_SIZES",
    "RANGES",
    "RESULT_FILTERS",
    "SORTS",
    "Page",
    "evaluations_of",
    "experiments",
    "prompt_detail",
    "result_filter",
    "results",
    "run_dir",
    "runs",
    "scored_responses",
]

PAGE_SIZES = (25, 50, 100, 200)


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
    with read(outputs_dir) as con:
        return records(
            con,
            "WITH shown AS (SELECT run_id, experiment, status, run_dir, "
            "CAST(started_at AS VARCHAR) AS started_at, total, n_ok, n_error, cost_usd, "
            "array_to_string(model_names, ', ') AS models, wall_time_s FROM runs "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT 500), "
            "s AS (SELECT run_id, avg(value_num) AS mean_score FROM evaluations "
            "WHERE field = 'score' AND run_id IN (SELECT run_id FROM shown) GROUP BY run_id) "
            "SELECT shown.*, s.mean_score FROM shown LEFT JOIN s USING (run_id) "
            "ORDER BY started_at DESC NULLS LAST, run_id DESC",
            params,
        )


def run_dir(outputs_dir: Path, run_id: str) -> Path | None:
    """The folder of run ``run_id``, only when it lies inside ``outputs_dir``."""
    with read(outputs_dir) as con:
        row = con.execute("SELECT run_dir FROM runs WHERE run_id = $id", {"id": run_id}).fetchone()
    if not row or not row[0]:
        return None
    root = outputs_dir.resolve()
    folder = Path(str(row[0]))
    folder = (folder if folder.is_absolute() else root / folder).resolve()
    return folder if folder.is_relative_to(root) else None


def experiments(outputs_dir: Path) -> list[str]:
    """Every experiment in the index."""
    with read(outputs_dir) as con:
        return [
            str(r[0])
            for r in con.execute("SELECT DISTINCT experiment FROM runs ORDER BY 1").fetchall()
        ]


def prompt_detail(
    outputs_dir: Path, experiment: str, key: str, page: int, size: int
) -> tuple[str | None, Page]:
    """One prompt of ``experiment`` (its text, or None) and one page of its answers, in any run.

    Records without an ``id`` are keyed by a hash that may include the model's name, so the
    prompt's text, not its key, joins the answers of different models. A prompt answered
    200,000 times is paged like the results: one page is in memory, never every answer.
    """
    params = {"experiment": experiment, "key": key}
    with read(outputs_dir) as con:
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
        rows = records(
            con,
            "WITH answers AS (SELECT r.run_id, r.line, r.prompt_key, r.model_name, r.api, "
            "r.response, r.status, r.error, r.error_kind, r.attempts, r.latency_s, "
            "r.input_tokens, r.output_tokens, r.cost_usd, r.cached, "
            "CAST(r.record AS VARCHAR) AS record, "
            "CAST(r.timestamp_sent AS VARCHAR) AS timestamp_sent "
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


def evaluations_of(outputs_dir: Path, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every evaluation row (step, field, value) of the given (run, prompt key) pairs."""
    if not pairs:
        return []
    values = ", ".join(f"($r{i}, $k{i})" for i in range(len(pairs)))
    params: dict[str, Any] = {}
    for i, (run_id, key) in enumerate(pairs):
        params[f"r{i}"], params[f"k{i}"] = run_id, key
    with read(outputs_dir) as con:
        return records(
            con,
            f"WITH p(run_id, prompt_key) AS (VALUES {values}) SELECT e.run_id, e.prompt_key, "
            "e.step, e.field, e.value FROM evaluations e SEMI JOIN p USING (run_id, prompt_key) "
            "ORDER BY e.step, e.field",
            params,
        )
