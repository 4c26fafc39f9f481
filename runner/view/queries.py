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
            "WITH shown AS (SELECT run_id, experiment, status, "
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
    with _read(outputs_dir) as con:
        row = con.execute("SELECT run_dir FROM runs WHERE run_id = $id", {"id": run_id}).fetchone()
    if not row or not row[0]:
        return None
    root = outputs_dir.resolve()
    folder = Path(str(row[0]))
    folder = (folder if folder.is_absolute() else root / folder).resolve()
    return folder if folder.is_relative_to(root) else None


# Sortable columns of the results page, by the name the URL uses.
SORTS = {
    "run": "run_id",
    "model": "model_name",
    "status": "status",
    "attempts": "attempts",
    "latency": "latency_s",
    "cost": "cost_usd",
    "score": "score",
    "prompt": "prompt",
    "line": "line",
}
# Range filters: URL name -> (column, comparison).
RANGES = {
    "score_min": ("score", ">="),
    "score_max": ("score", "<="),
    "cost_min": ("cost_usd", ">="),
    "cost_max": ("cost_usd", "<="),
}
# The mean score of a response over its steps (NULL when unscored).
_SCORE = (
    "(SELECT avg(e.value_num) FROM evaluations e WHERE e.run_id = r.run_id "
    "AND e.prompt_key = r.prompt_key AND e.field = 'score')"
)


def scored_responses(con: duckdb.DuckDBPyConnection) -> str:
    """Every response with its row id and mean score, as a FROM source.

    The score is ``responses.mean_score`` (averaged once, when evaluations are written):
    averaging the evaluations per request made a score sort 0.6-0.9 s at a million rows. An
    index from before that column (version 5, not updated yet) averages them here.
    """
    has_column = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'responses' "
        "AND schema_name = 'main' AND column_name = 'mean_score'"
    ).fetchone()
    if has_column and has_column[0]:
        return "(SELECT rowid AS rid, *, mean_score AS score FROM responses)"
    return f"(SELECT r.rowid AS rid, r.*, {_SCORE} AS score FROM responses r)"


RESULT_COLUMNS = (
    "run_id, experiment, prompt_key, model_name, prompt_variant, status, error_kind, attempts, "
    "latency_s, cost_usd, cached, line"
)


def like_pattern(text: str) -> str:
    """``text`` as an ILIKE pattern matching it anywhere, ``%``, ``_`` and ``\\`` literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def result_filter(filters: dict[str, str], text: str) -> tuple[str, dict[str, Any], bool]:
    """The WHERE clause, its parameters, and whether it needs each response's score."""
    where: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    for key, column in RESULT_FILTERS.items():
        if filters.get(key):
            where.append(f'"{column}" = ${key}')
            params[key] = filters[key]
    if filters.get("cached") in ("yes", "no"):
        where.append("cached" if filters["cached"] == "yes" else "NOT coalesce(cached, false)")
    needs_score = False
    for key, (column, op) in RANGES.items():
        try:
            number = float(filters.get(key) or "")
        except ValueError:
            continue
        needs_score = needs_score or column == "score"
        where.append(f"{column} {op} ${key}")
        params[key] = number
    if text:
        # The text is matched as typed: its % and _ are not wildcards.
        where.append(
            "(prompt ILIKE $text ESCAPE '\\' OR response ILIKE $text ESCAPE '\\' "
            "OR error ILIKE $text ESCAPE '\\')"
        )
        params["text"] = like_pattern(text)
    return " AND ".join(where), params, needs_score


def _order(sort: str) -> str:
    column, _, direction = sort.partition(":")
    name = SORTS.get(column)
    if name is None:
        return "run_id DESC, line"
    return f"{name} {'DESC' if direction == 'desc' else 'ASC'} NULLS LAST, run_id DESC, line"


def results(
    outputs_dir: Path,
    filters: dict[str, str],
    text: str,
    page: int,
    size: int,
    sort: str = "",
) -> Page:
    """One page of responses matching ``filters`` and ``text`` (in prompt, answer or error)."""
    clause, params, needs_score = result_filter(filters, text)
    needs_score = needs_score or sort.startswith("score")
    score_column = ", score" if needs_score else ""
    with _read(outputs_dir) as con:
        source = scored_responses(con) if needs_score else "(SELECT rowid AS rid, * FROM responses)"
        # The page's row ids are sorted first and its text read after: sorting with the text
        # along took 0.5 s for the last page of a million rows, this 0.2 s. The count rides
        # along (a window), so the scores are joined once, not twice.
        # Only where counting costs a scan of its own (a text search, a score): a plain
        # count(*) is answered from DuckDB's metadata, a window would read every row.
        window = "count(*) OVER ()" if needs_score or text else "NULL"
        found_rows = con.execute(
            f"SELECT rid{score_column}, {window} FROM {source} WHERE {clause} "
            f"ORDER BY {_order(sort)} LIMIT $size OFFSET $offset",
            {**params, "size": size, "offset": (page - 1) * size},
        ).fetchall()
        if found_rows and found_rows[0][-1] is not None:
            count: tuple[Any, ...] | None = (found_rows[0][-1],)
        else:  # past the last page: the count alone
            count = con.execute(f"SELECT count(*) FROM {source} WHERE {clause}", params).fetchone()
        picked = [row[:-1] for row in found_rows]
        rows = []
        if picked:
            ids = ", ".join(str(int(p[0])) for p in picked)
            found = {
                int(r.pop("rid")): r
                for r in _records(
                    con,
                    f"SELECT rowid AS rid, {RESULT_COLUMNS}, left(prompt, 1000) AS prompt, "
                    "left(coalesce(response, error), 1000) AS answer "
                    f"FROM responses WHERE rowid IN ({ids})",
                    {},
                )
            }
            for pick in picked:
                row = found[int(pick[0])]
                if needs_score:
                    row["score"] = pick[1]
                rows.append(row)
        if not needs_score and rows:
            # The page's scores only: a join with the whole evaluations table costs ~0.3 s
            # at a million rows.
            pairs = {(str(r["run_id"]), str(r["prompt_key"])) for r in rows}
            scores = _page_scores(con, sorted(pairs))
            for row in rows:
                row["score"] = scores.get((str(row["run_id"]), str(row["prompt_key"])))
    return Page(rows, int(count[0]) if count else 0, page, size)


def _page_scores(
    con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], float]:
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


def experiments(outputs_dir: Path) -> list[str]:
    """Every experiment in the index."""
    with _read(outputs_dir) as con:
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
    with _read(outputs_dir) as con:
        return _records(
            con,
            f"WITH p(run_id, prompt_key) AS (VALUES {values}) SELECT e.run_id, e.prompt_key, "
            "e.step, e.field, e.value FROM evaluations e SEMI JOIN p USING (run_id, prompt_key) "
            "ORDER BY e.step, e.field",
            params,
        )
