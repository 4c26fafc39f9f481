"""The compare view's reads: one row per prompt, one column per (run, model) of an experiment.

Every run of the experiment is a column (a seed sweep stays several columns); the page's
prompts alone are joined with their answers and scores. Rows can be ordered and filtered by
how far the columns' scores lie apart ("where models disagree") or by column A minus B.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.index.db import read_connection
from runner.view.queries import Page, _records

MAX_COLUMNS = 8
ORDERS = ("input", "spread", "a_minus_b", "b_minus_a")


@dataclass
class Column:
    """One column of the compare view and its summary over the whole experiment."""

    run_id: str
    model: str
    n: int = 0
    errors: int = 0
    mean: float | None = None
    lo: float | None = None
    hi: float | None = None
    scored: int = 0
    cost: float | None = None
    p50: float | None = None
    p90: float | None = None
    labels: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.run_id}|{self.model}"

    @property
    def error_rate(self) -> float:
        return self.errors / self.n if self.n else 0.0


def columns(outputs_dir: Path, experiment: str) -> list[Column]:
    """Every (run, model) of ``experiment`` with its summary: score with its CI, cost, latency."""
    with read_connection(outputs_dir) as con:
        rows = _records(
            con,
            "WITH s AS (SELECT run_id, prompt_key, avg(value_num) AS score FROM evaluations "
            "WHERE field = 'score' AND run_id IN (SELECT run_id FROM runs "
            "WHERE experiment = $e) GROUP BY ALL) "
            "SELECT r.run_id, coalesce(r.model_name, r.api, '?') AS model, count(*) AS n, "
            "count(*) FILTER (WHERE r.status <> 'ok') AS errors, avg(s.score) AS mean, "
            "stddev_samp(s.score) AS sd, count(s.score) AS scored, sum(r.cost_usd) AS cost, "
            "quantile_cont(r.latency_s, 0.5) AS p50, quantile_cont(r.latency_s, 0.9) AS p90 "
            "FROM responses r LEFT JOIN s USING (run_id, prompt_key) "
            "WHERE r.experiment = $e GROUP BY ALL ORDER BY model, r.run_id",
            {"e": experiment},
        )
    out = []
    for row in rows:
        sd, n = row.pop("sd"), row["scored"]
        col = Column(**row)
        if col.mean is not None and sd is not None and n > 1:
            half = 1.96 * float(sd) / math.sqrt(n)  # normal approximation of the mean's CI
            col.lo, col.hi = max(0.0, col.mean - half), col.mean + half
        out.append(col)
    return out


def _chosen(cols: list[Column], keys: list[str]) -> list[Column]:
    by_key = {c.key: c for c in cols}
    picked = [by_key[k] for k in keys if k in by_key]
    return (picked or cols)[:MAX_COLUMNS]


def compare(
    outputs_dir: Path,
    experiment: str,
    cols: list[Column],
    *,
    order: str = "input",
    a: int = 0,
    b: int = 1,
    min_spread: float | None = None,
    page: int = 1,
    size: int = 25,
) -> Page:
    """One page of prompts, each with its cell per column (answer, score, cost, latency)."""
    pairs = [(c.run_id, c.model) for c in cols]
    if not pairs:
        return Page([], 0, page, size)
    values = ", ".join(f"($r{i}, $m{i}, {i})" for i in range(len(pairs)))
    params: dict[str, Any] = {"e": experiment}
    for i, (run_id, model) in enumerate(pairs):
        params[f"r{i}"], params[f"m{i}"] = run_id, model
    a, b = min(a, len(pairs) - 1), min(b, len(pairs) - 1)
    having = "" if min_spread is None else f"WHERE spread >= {float(min_spread)!r}"
    sort = {
        "spread": "spread DESC NULLS LAST, line",
        "a_minus_b": "a_minus_b DESC NULLS LAST, line",
        "b_minus_a": "a_minus_b ASC NULLS LAST, line",
    }.get(order, "line")
    base = (
        f"WITH cols(run_id, model, col) AS (VALUES {values}), "
        "a AS (SELECT coalesce(r.id, r.prompt) AS pk, r.prompt, r.prompt_key, r.line, "
        "r.run_id, cols.col, r.status, r.error_kind, r.latency_s, r.cost_usd, "
        "r.response, r.error FROM responses r JOIN cols ON r.run_id = cols.run_id "
        "AND coalesce(r.model_name, r.api, '?') = cols.model WHERE r.experiment = $e), "
        "s AS (SELECT run_id, prompt_key, avg(value_num) AS score FROM evaluations "
        "WHERE field = 'score' AND run_id IN (SELECT run_id FROM cols) GROUP BY ALL), "
        # An answer that ended in error scores 0 when rows are compared: it lost to any answer.
        "j AS (SELECT a.*, s.score, coalesce(s.score, CASE WHEN a.status <> 'ok' THEN 0 END) "
        "AS cmp FROM a LEFT JOIN s USING (run_id, prompt_key)), "
        "p AS (SELECT pk, min(line) AS line, max(cmp) - min(cmp) AS spread, "
        f"max(cmp) FILTER (WHERE col = {a}) - max(cmp) FILTER (WHERE col = {b}) "
        f"AS a_minus_b FROM j GROUP BY pk) "
    )
    with read_connection(outputs_dir) as con:
        count = con.execute(f"{base} SELECT count(*) FROM p {having}", params).fetchone()
        rows = _records(
            con,
            f"{base}, pg AS (SELECT * FROM p {having} ORDER BY {sort} "
            "LIMIT $size OFFSET $offset) "
            "SELECT pg.pk, pg.spread, pg.a_minus_b, left(any_value(j.prompt), 2000) AS prompt, "
            "min(j.prompt_key) AS prompt_key, list(struct_pack(col := j.col, "
            "prompt_key := j.prompt_key, run_id := j.run_id, status := j.status, "
            "error_kind := j.error_kind, latency := j.latency_s, cost := j.cost_usd, "
            "score := j.score, answer := left(coalesce(j.response, j.error, ''), 2000))) AS cells "
            "FROM pg JOIN j USING (pk) GROUP BY ALL "
            f"ORDER BY {sort.replace('line', 'min(j.line)')}",
            {**params, "size": size, "offset": (page - 1) * size},
        )
    for row in rows:
        row["by_col"] = {cell["col"]: cell for cell in row.pop("cells")}
    return Page(rows, int(count[0]) if count else 0, page, size)


__all__ = ["MAX_COLUMNS", "ORDERS", "Column", "_chosen", "columns", "compare"]
