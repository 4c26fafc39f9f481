"""The viewer's results page: filters, sorts and one page of responses with their scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from runner.view.reads import Page, page_scores, read, records

# Results pages: what a filter can name, mapped to its column.
RESULT_FILTERS = {
    "run": "run_id",
    "status": "status",
    "error_kind": "error_kind",
    "model": "model_name",
    "experiment": "experiment",
    "variant": "prompt_variant",  # a template experiment's prompt variant
}


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
    with read(outputs_dir) as con:
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
                for r in records(
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
            scores = page_scores(con, sorted(pairs))
            for row in rows:
                row["score"] = scores.get((str(row["run_id"]), str(row["prompt_key"])))
    return Page(rows, int(count[0]) if count else 0, page, size)
