"""Evaluation scores per step and model: the mean with a bootstrap 95% interval, and counts.

The bootstrap resamples the scores of a step and model ``RESAMPLES`` times. Scores take few
distinct values (0/1, a 1-5 scale), so a resample is drawn as multinomial counts over the
distinct values: the same distribution as drawing every score, at a cost that does not grow
with the number of prompts.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from runner.report.table import Table

if TYPE_CHECKING:
    import numpy as np

RESAMPLES = 2000
# Past this many distinct values a step's scores are binned for the distribution chart.
MAX_DISTINCT = 50


def _literal(path: Path) -> str:
    return "'" + glob.escape(str(path)).replace("'", "''") + "'"  # DuckDB globs what it reads


def _sources(evaluations: Path | None, labels: dict[str, bool] | None) -> str:
    """The scores' rows: the evaluations file, and hand labels as the scorer ``human``."""
    parts = []
    if evaluations is not None:
        parts.append(
            f"SELECT prompt_key, step, field, value FROM read_json({_literal(evaluations)}, "
            "format = 'newline_delimited', ignore_errors = true, columns = "
            "{'prompt_key': 'VARCHAR', 'step': 'VARCHAR', 'field': 'VARCHAR', 'value': 'JSON'})"
        )
    if labels:
        parts.append(
            "SELECT unnest($label_keys) AS prompt_key, 'human' AS step, 'score' AS field, "
            "CAST(unnest($label_good) AS JSON) AS value"
        )
    return " UNION ALL ".join(parts)


def load_scores(
    con: duckdb.DuckDBPyConnection,
    evaluations: Path | None,
    labels: dict[str, bool] | None = None,
) -> tuple[Table, Table]:
    """(step, model, n, mean, lo, hi) and (step, model, value, n) for the run in ``con``.

    Hand labels (the run's, by prompt key: good is True) count as the step ``human``.
    """
    params = {"label_keys": list(labels), "label_good": list(labels.values())} if labels else {}
    counts = Table.of(
        con.execute(
            "WITH src AS (" + _sources(evaluations, labels) + "), "
            "raw AS (SELECT *, row_number() OVER () AS seq FROM src),"
            # Evaluating again appends: the last line of a prompt and step wins.
            " e AS (SELECT * FROM raw WHERE field = 'score' QUALIFY row_number() OVER "
            "(PARTITION BY prompt_key, step ORDER BY seq DESC) = 1), "
            # A pass/fail score counts as 1/0.
            "s AS (SELECT step, r.model, CASE json_type(value) WHEN 'BOOLEAN' THEN "
            "CAST(CAST(value AS VARCHAR) = 'true' AS DOUBLE) "
            "ELSE TRY_CAST(CAST(value AS VARCHAR) AS DOUBLE) END AS value "
            "FROM e JOIN r USING (prompt_key)) "
            "SELECT step, model, round(value, 6) AS value, count(*) AS n FROM s "
            "WHERE value IS NOT NULL GROUP BY ALL ORDER BY ALL",
            params,
        )
    )
    if counts.empty:
        return Table(), Table()
    import numpy as np  # only for a run with scores

    rng = np.random.default_rng(0)  # the same report from the same scores
    groups: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for step, model, value, n in counts.rows:  # ordered by step, model
        groups.setdefault((str(step), str(model)), []).append((float(value), float(n)))
    rows = [_interval(step, model, pairs, rng) for (step, model), pairs in groups.items()]
    return Table.from_records(rows), counts


def _interval(
    step: str, model: str, pairs: list[tuple[float, float]], rng: np.random.Generator
) -> dict[str, object]:
    import numpy as np

    values = np.array([v for v, _ in pairs], dtype=float)
    weights = np.array([w for _, w in pairs], dtype=float)
    n = int(weights.sum())
    mean = float((values * weights).sum() / n)
    draws = rng.multinomial(n, weights / n, size=RESAMPLES)
    means = draws @ values / n
    lo, hi = np.quantile(means, [0.025, 0.975])
    return {"step": step, "model": model, "n": n, "mean": mean, "lo": float(lo), "hi": float(hi)}


def load_repeat_scores(con: duckdb.DuckDBPyConnection, evaluations: Path) -> Table:
    """Scores over repeats: (step, model, reduction, prompts, repeats, mean, lo, hi).

    Each prompt's repeats (results sharing a ``row_id``, variant and model) reduce to one value
    (runner.evaluation.repeats), and the interval is the bootstrap over prompts, as above.
    Empty when the run has no repeats.
    """
    from runner.evaluation.repeats import reductions

    path = _literal(evaluations)
    rows = con.execute(
        "WITH raw AS (SELECT *, row_number() OVER () AS seq FROM read_json("
        f"{path}, format = 'newline_delimited', ignore_errors = true, columns = "
        "{'prompt_key': 'VARCHAR', 'step': 'VARCHAR', 'field': 'VARCHAR', 'value': 'JSON'})),"
        " e AS (SELECT * FROM raw WHERE field = 'score' QUALIFY row_number() OVER "
        "(PARTITION BY prompt_key, step ORDER BY seq DESC) = 1), "
        "s AS (SELECT step, r.model, r.row_id, CASE json_type(value) WHEN 'BOOLEAN' THEN "
        "CAST(CAST(value AS VARCHAR) = 'true' AS DOUBLE) "
        "ELSE TRY_CAST(CAST(value AS VARCHAR) AS DOUBLE) END AS value "
        "FROM e JOIN r USING (prompt_key) WHERE r.repeat IS NOT NULL) "
        "SELECT step, model, row_id, list(value ORDER BY value) FROM s "
        "WHERE value IS NOT NULL GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL"
    ).fetchall()
    if not rows:
        return Table()
    import numpy as np

    repeats = max(len(values) for *_, values in rows)
    ks = sorted({1, repeats} | ({5} if repeats > 5 else set()))
    per: dict[tuple[str, str, str], dict[float, float]] = {}
    for step, model, _row, values in rows:
        for name, value in reductions([float(v) for v in values], ks).items():
            bucket = per.setdefault((str(step), str(model), name), {})
            bucket[round(value, 6)] = bucket.get(round(value, 6), 0.0) + 1.0
    rng = np.random.default_rng(0)
    found = []
    for (step, model, name), counts in per.items():
        interval = _interval(step, model, sorted(counts.items()), rng)
        found.append({**interval, "reduction": name, "repeats": repeats})
    found.sort(key=lambda r: (str(r["step"]), str(r["model"]), _order(str(r["reduction"]))))
    columns = ["step", "model", "reduction", "n", "repeats", "mean", "lo", "hi"]
    return Table.from_records(found, columns)


def _order(reduction: str) -> tuple[int, int]:
    """mean, majority, then pass@k by k."""
    if reduction.startswith("pass@"):
        return 2, int(reduction.removeprefix("pass@"))
    return (0 if reduction == "mean" else 1), 0
