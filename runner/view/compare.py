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

import duckdb

from runner.index.db import db_path
from runner.view.queries import Page, _page_scores, _read, _records

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
# One row per index run id of a column: (run id, model, variant, column number).
Member = tuple[str, str, str | None, int]
# A prompto file's row is its prompt (by id); a template's is its data row and repeat.
_FILE_ROW = "coalesce({p}id, {p}prompt)"

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
    with _read(outputs_dir) as con:
        rows = _records(
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


def row_sql(con: duckdb.DuckDBPyConnection, prefix: str = "") -> str:
    """The SQL of a row's key: a template's data row (row_id#repeat), else the file's id."""
    have = {
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'responses'"
        ).fetchall()
    }
    if "row_id" not in have:  # no template experiment was ever indexed
        return _FILE_ROW.format(p=prefix)
    repeat = (
        f"coalesce('#' || CAST({prefix}\"repeat\" AS VARCHAR), '')" if "repeat" in have else "''"
    )
    row = f"CAST({prefix}row_id AS VARCHAR) || {repeat}"
    return f"coalesce({row}, {_FILE_ROW.format(p=prefix)})"


def chosen_columns(cols: list[Column], keys: list[str]) -> list[Column]:
    """The columns ``keys`` name, in order (all if none is known), at most MAX_COLUMNS."""
    by_key = {c.key: c for c in cols}
    picked = [by_key[k] for k in keys if k in by_key]
    return (picked or cols)[:MAX_COLUMNS]


# Score orders aggregate every answer of the columns: their ordered prompts are kept for the
# next pages, until the index changes (keyed by its modification time).
_ORDERED: OrderedDict[tuple[Any, ...], list[tuple[str, float | None, float | None]]] = OrderedDict()


def _cols_sql(members: list[Member], params: dict[str, Any]) -> str:
    for i, (run_id, model, variant, _) in enumerate(members):
        params[f"r{i}"], params[f"m{i}"], params[f"v{i}"] = run_id, model, variant
    values = ", ".join(
        f"($r{i}, $m{i}, CAST($v{i} AS VARCHAR), {col})" for i, (_, _, _, col) in enumerate(members)
    )
    return f"cols(run_id, model, variant, col) AS (VALUES {values})"


def _input_page(
    con: duckdb.DuckDBPyConnection,
    experiment: str,
    first: Column,
    row: str,
    page: int,
    size: int,
) -> tuple[list[tuple[str, float | None, float | None]], int]:
    """Prompts in input order, as the first column holds them (no aggregation at all)."""
    runs = first.runs or [first.run_id]
    params: dict[str, Any] = {"e": experiment, "m": first.model, "v": first.variant}
    params.update({f"r{i}": run_id for i, run_id in enumerate(runs)})
    marks = ", ".join(f"$r{i}" for i in range(len(runs)))
    where = (
        f"WHERE experiment = $e AND run_id IN ({marks}) AND coalesce(model_name, api, '?') = $m "
        "AND prompt_variant IS NOT DISTINCT FROM CAST($v AS VARCHAR)"
    )
    count = con.execute(f"SELECT count(*) FROM responses {where}", params).fetchone()
    keys = con.execute(
        f"SELECT {row} FROM responses {where} ORDER BY run_id, line LIMIT $size OFFSET $offset",
        {**params, "size": size, "offset": (page - 1) * size},
    ).fetchall()
    return [(str(k[0]), None, None) for k in keys], int(count[0]) if count else 0


def _score_order(
    con: duckdb.DuckDBPyConnection,
    experiment: str,
    members: list[Member],
    row: str,
    order: str,
    a: int,
    b: int,
    min_spread: float | None,
) -> list[tuple[str, float | None, float | None]]:
    """Every prompt with its score spread and A minus B, in the order asked for."""
    params: dict[str, Any] = {"e": experiment}
    having = "" if min_spread is None else f"WHERE spread >= {float(min_spread)!r}"
    sort = {
        "spread": "spread DESC NULLS LAST, line",
        "a_minus_b": "a_minus_b DESC NULLS LAST, line",
        "b_minus_a": "a_minus_b ASC NULLS LAST, line",
    }[order]
    rows = con.execute(
        f"WITH {_cols_sql(members, params)}, "
        f"a AS (SELECT {row} AS pk, r.prompt_key, r.line, r.run_id, "
        "cols.col, r.status FROM responses r JOIN cols ON r.run_id = cols.run_id "
        "AND coalesce(r.model_name, r.api, '?') = cols.model "
        "AND r.prompt_variant IS NOT DISTINCT FROM cols.variant WHERE r.experiment = $e), "
        "s AS (SELECT run_id, prompt_key, avg(value_num) AS score FROM evaluations "
        "WHERE field = 'score' AND run_id IN (SELECT run_id FROM cols) GROUP BY ALL), "
        # An answer that ended in error scores 0 when rows are compared: it lost to any answer.
        "j AS (SELECT a.*, coalesce(s.score, CASE WHEN a.status <> 'ok' THEN 0 END) AS cmp "
        "FROM a LEFT JOIN s USING (run_id, prompt_key)), "
        "p AS (SELECT pk, min(line) AS line, max(cmp) - min(cmp) AS spread, "
        f"max(cmp) FILTER (WHERE col = {a}) - max(cmp) FILTER (WHERE col = {b}) "
        f"AS a_minus_b FROM j GROUP BY pk) SELECT pk, spread, a_minus_b FROM p {having} "
        f"ORDER BY {sort}",
        params,
    ).fetchall()
    return [(str(pk), spread, diff) for pk, spread, diff in rows]


def _cells(
    con: duckdb.DuckDBPyConnection,
    experiment: str,
    members: list[Member],
    row: str,
    keys: list[str],
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"e": experiment}
    marks = ", ".join(f"$k{i}" for i in range(len(keys)))
    params.update({f"k{i}": k for i, k in enumerate(keys)})
    runs = ", ".join(f"$r{i}" for i in range(len(members)))
    params.update({f"r{i}": run_id for i, (run_id, _, _, _) in enumerate(members)})
    # Row ids first, the text after: reading the answers of every row scanned cost 4 times
    # the scan itself at a million rows.
    ids = [
        int(r[0])
        for r in con.execute(
            f"SELECT rowid FROM responses WHERE experiment = $e AND run_id IN ({runs}) "
            f"AND {row} IN ({marks})",
            params,
        ).fetchall()
    ]
    if not ids:
        return []
    col_of = {(run_id, model, variant): col for run_id, model, variant, col in members}
    cells = []
    for cell in _records(
        con,
        f"SELECT {row} AS pk, prompt, prompt_key, run_id, prompt_variant, "
        "coalesce(model_name, api, '?') AS model, status, error_kind, latency_s, cost_usd, "
        "left(coalesce(response, error, ''), 2000) AS answer FROM responses "
        f"WHERE rowid IN ({', '.join(map(str, ids))})",
        {},
    ):
        variant = cell.pop("prompt_variant")
        col = col_of.get((str(cell["run_id"]), str(cell["model"]), variant))
        if col is not None:
            cell["col"] = col
            cells.append(cell)
    # Scores in a second, small query: a CTE used twice is computed twice.
    pairs_found = sorted({(str(c["run_id"]), str(c["prompt_key"])) for c in cells})
    scores = _page_scores(con, pairs_found) if pairs_found else {}
    for cell in cells:
        cell["score"] = scores.get((str(cell["run_id"]), str(cell["prompt_key"])))
    return cells


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
    with _read(outputs_dir) as con:
        row = row_sql(con)
        if order == "input" and min_spread is None:
            keys, total = _input_page(con, experiment, cols[0], row, page, size)
        else:
            order = "spread" if order == "input" else order
            stamp = db_path(outputs_dir).stat().st_mtime_ns
            key = (str(outputs_dir), stamp, experiment, tuple(pairs), order, a, b, min_spread)
            with _LOCK:
                ordered = _ORDERED.get(key)
            if ordered is None:
                ordered = _score_order(
                    con, experiment, members, row_sql(con, "r."), order, a, b, min_spread
                )
                with _LOCK:
                    _ORDERED[key] = ordered
                    while len(_ORDERED) > _KEPT:
                        _ORDERED.popitem(last=False)
            total = len(ordered)
            keys = ordered[(page - 1) * size : page * size]
        cells = _cells(con, experiment, members, row, [k for k, _, _ in keys]) if keys else []
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
