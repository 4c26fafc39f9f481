"""The compare view's reads: one row per prompt, one column per (run, model) of an experiment.

Every run of the experiment is a column (a seed sweep stays several columns; a sharded run's
folders, ``<run>.shard<K>of<N>``, are one column); a template experiment's prompt variants
are columns too (run, model, variant), and its rows are its data rows (``row_id`` and
``repeat``), since each variant words the prompt differently. The page's
prompts alone are joined with their answers and scores. Rows can be ordered and filtered by
how far the columns' scores lie apart ("where models disagree") or by column A minus B.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.index.db import db_path
from runner.view.compare_rows import input_page, page_cells, row_sql, score_order
from runner.view.reads import Page, read, records

MAX_COLUMNS = 8
# Summaries and score orders kept in memory (a few; each is dropped when the index changes).
_KEPT = 4
_LOCK = threading.Lock()
ORDERS = ("input", "spread", "a_minus_b", "b_minus_a")


@dataclass
class Column:
    """One column of the compare view and its summary over the whole experiment."""

    run_id: str
    model: str
    variant: str | None = None  # a template experiment's prompt_variant
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
    runs: list[str] = field(default_factory=list)  # the index's run ids (a sharded run's shards)

    @property
    def key(self) -> str:
        base = f"{self.run_id}|{self.model}"
        return base if self.variant is None else f"{base}|{self.variant}"

    @property
    def error_rate(self) -> float:
        return self.errors / self.n if self.n else 0.0


# A shard's run id without its shard suffix (runner.shards: <run>.shard<K>of<N>).
_RUN = r"regexp_replace(r.run_id, '\.shard[0-9]+of[0-9]+$', '')"

_SUMMARIES: OrderedDict[tuple[str, int, str], list[Column]] = OrderedDict()


def columns(outputs_dir: Path, experiment: str) -> list[Column]:
    """Every (run, model) of ``experiment`` with its summary, kept until the index changes."""
    key = (str(outputs_dir), db_path(outputs_dir).stat().st_mtime_ns, experiment)
    with _LOCK:
        kept = _SUMMARIES.get(key)
    if kept is None:
        kept = _columns(outputs_dir, experiment)
        with _LOCK:
            _SUMMARIES[key] = kept
            while len(_SUMMARIES) > _KEPT:
                _SUMMARIES.popitem(last=False)
    return kept


def _columns(outputs_dir: Path, experiment: str) -> list[Column]:
    """Every (run, model) of ``experiment`` with its summary: score with its CI, cost, latency."""
    with read(outputs_dir) as con:
        rows = records(
            con,
            "WITH s AS (SELECT run_id, prompt_key, avg(value_num) AS score FROM evaluations "
            "WHERE field = 'score' AND run_id IN (SELECT run_id FROM runs "
            "WHERE experiment = $e) GROUP BY ALL) "
            f"SELECT {_RUN} AS run_id, coalesce(r.model_name, r.api, '?') AS model, "
            "r.prompt_variant AS variant, list(DISTINCT r.run_id ORDER BY r.run_id) AS runs, "
            "count(*) AS n, "
            "count(*) FILTER (WHERE r.status <> 'ok') AS errors, avg(s.score) AS mean, "
            "stddev_samp(s.score) AS sd, count(s.score) AS scored, sum(r.cost_usd) AS cost, "
            "quantile_cont(r.latency_s, 0.5) AS p50, quantile_cont(r.latency_s, 0.9) AS p90 "
            "FROM responses r LEFT JOIN s USING (run_id, prompt_key) "
            "WHERE r.experiment = $e GROUP BY ALL ORDER BY model, 1, variant",
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


def chosen_columns(cols: list[Column], keys: list[str]) -> list[Column]:
    """The columns ``keys`` name, in order (all if none is known), at most MAX_COLUMNS."""
    by_key = {c.key: c for c in cols}
    picked = [by_key[k] for k in keys if k in by_key]
    return (picked or cols)[:MAX_COLUMNS]


# Score orders aggregate every answer of the columns: their ordered prompts are kept for the
# next pages, until the index changes (keyed by its modification time).
_ORDERED: OrderedDict[tuple[Any, ...], list[tuple[str, float | None, float | None]]] = OrderedDict()


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
    pairs = [(c.run_id, c.model, c.variant) for c in cols]
    members = [
        (r, c.model, c.variant, i) for i, c in enumerate(cols) for r in (c.runs or [c.run_id])
    ]
    if not pairs:
        return Page([], 0, page, size)
    a, b = min(a, len(pairs) - 1), min(b, len(pairs) - 1)
    with read(outputs_dir) as con:
        row = row_sql(con)
        if order == "input" and min_spread is None:
            keys, total = input_page(con, experiment, cols[0], row, page, size)
        else:
            order = "spread" if order == "input" else order
            stamp = db_path(outputs_dir).stat().st_mtime_ns
            key = (str(outputs_dir), stamp, experiment, tuple(pairs), order, a, b, min_spread)
            with _LOCK:
                ordered = _ORDERED.get(key)
            if ordered is None:
                ordered = score_order(
                    con, experiment, members, row_sql(con, "r."), order, a, b, min_spread
                )
                with _LOCK:
                    _ORDERED[key] = ordered
                    while len(_ORDERED) > _KEPT:
                        _ORDERED.popitem(last=False)
            total = len(ordered)
            keys = ordered[(page - 1) * size : page * size]
        cells = page_cells(con, experiment, members, row, [k for k, _, _ in keys]) if keys else []
    by_pk: dict[str, list[dict[str, Any]]] = {}
    for cell in cells:
        by_pk.setdefault(str(cell["pk"]), []).append(cell)
    rows = []
    for pk, spread, diff in keys:
        found = by_pk.get(pk, [])
        rows.append(
            {
                "pk": pk,
                "spread": spread,
                "a_minus_b": diff,
                "prompt": str(found[0]["prompt"] or "")[:2000] if found else pk,
                "prompt_key": min((str(c["prompt_key"]) for c in found), default=pk),
                "by_col": {
                    c["col"]: {**c, "latency": c["latency_s"], "cost": c["cost_usd"]} for c in found
                },
            }
        )
    return Page(rows, total, page, size)


__all__ = ["MAX_COLUMNS", "ORDERS", "Column", "chosen_columns", "columns", "compare"]
