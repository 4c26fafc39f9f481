"""The report's aggregates of a run's results: latency, errors and the timeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from runner.engine.timeline import TIMELINE_FILE
from runner.report.answers import readable
from runner.report.results_db import frame
from runner.report.table import Table

# Example failures shown per error kind.
EXAMPLES_PER_KIND = 3
LATENCY_BINS = 30
# Latency quantiles are exact up to this many results, estimated (approx_quantile) above.
EXACT_QUANTILES = 200_000


def latency(con: duckdb.DuckDBPyConnection) -> Table:
    """Latency quantiles and mean per rate group and model."""
    # Exact quantiles hold every latency in memory, which REPORT_MEMORY cannot at millions of
    # prompts (1,000,000 ran out): above EXACT_QUANTILES, t-digest estimates in fixed memory.
    row = con.execute("SELECT count(latency_s) FROM r").fetchone()
    exact = row is None or int(row[0]) <= EXACT_QUANTILES
    q = "quantile_cont" if exact else "approx_quantile"
    return frame(
        con,
        "SELECT rate_group, model, count(latency_s) AS n, "
        f"{q}(latency_s, 0.5) AS p50, {q}(latency_s, 0.9) AS p90, "
        f"{q}(latency_s, 0.99) AS p99, avg(latency_s) AS mean "
        "FROM r WHERE latency_s IS NOT NULL GROUP BY ALL ORDER BY ALL",
    )


def latency_hist(con: duckdb.DuckDBPyConnection) -> Table:
    """A latency histogram per model, in LATENCY_BINS bins."""
    row = con.execute("SELECT max(latency_s) FROM r").fetchone()
    top = float(row[0]) if row and row[0] is not None else 0.0
    width = max(top, 1e-3) / LATENCY_BINS
    return frame(
        con,
        f"SELECT model, least(floor(latency_s / {width!r}), {LATENCY_BINS - 1}) * {width!r} "
        f'AS start, count(*) AS n, start + {width!r} AS "end" FROM r '
        "WHERE latency_s IS NOT NULL GROUP BY ALL ORDER BY ALL",
    )


def error_examples(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """The first few failed prompts of each error kind."""
    examples = frame(
        con,
        "SELECT coalesce(error_kind, 'error') AS error_kind, model, prompt_key, "
        "prompt, error FROM r "
        "WHERE status <> 'ok' QUALIFY row_number() OVER "
        f"(PARTITION BY coalesce(error_kind, 'error') ORDER BY line) <= {EXAMPLES_PER_KIND}",
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in examples.records():
        row["prompt"] = readable(row["prompt"]) if row["prompt"] is not None else ""
        grouped.setdefault(str(row.pop("error_kind")), []).append(
            {str(k): v for k, v in row.items()}
        )
    return grouped


def tokens(con: duckdb.DuckDBPyConnection) -> Table:
    """Tokens and cost per model (cost null when no result of the model had a known price)."""
    return frame(
        con,
        "SELECT model, "
        "CAST(coalesce(sum(usage.input_tokens), 0) AS BIGINT) AS input_tokens, "
        "CAST(coalesce(sum(usage.output_tokens), 0) AS BIGINT) AS output_tokens, "
        # null when no result of the model had a known price (never a silent 0)
        "sum(cost_usd) AS cost_usd, "
        "count(*) FILTER (WHERE status = 'ok' AND cost_usd IS NULL) AS unpriced, "
        "CAST(coalesce(sum(usage.cached_input_tokens), 0) AS BIGINT) "
        "AS cached_input_tokens, "
        "CAST(coalesce(sum(usage.cache_write_tokens), 0) AS BIGINT) AS cache_write_tokens, "
        "CAST(coalesce(sum(usage.reasoning_tokens), 0) AS BIGINT) AS reasoning_tokens "
        "FROM r GROUP BY model ORDER BY model",
    )


def read_timeline(run_dir: Path) -> dict[str, Any]:
    """The run's ``timeline.json`` ({} when missing or unreadable)."""
    path = run_dir / TIMELINE_FILE
    if not path.exists():
        return {}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    return data
