"""A run's aggregates for its report, read with DuckDB from the run folder's own files.

The report reads ``completed.jsonl`` (the source of truth) through an in-memory DuckDB, so it
works whether or not the index is on or up to date, and only aggregates leave DuckDB: a
100,000-prompt run yields a few hundred rows. ``timeline.json`` (written by the engine) and
``evaluations.jsonl`` (the scores) are read when present.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from runner.engine.timeline import TIMELINE_FILE
from runner.errors import BadInputError
from runner.index.labels import LABELS_FILE, current_labels
from runner.output.run_folder import COMPLETED, RUN_META
from runner.report.table import Table

EVALUATIONS = "evaluations.jsonl"
# Hand labels from the viewer, beside the outputs (runner.view.labels writes them).
LABELS = LABELS_FILE
# Example failures shown per error kind.
EXAMPLES_PER_KIND = 3
LATENCY_BINS = 30
# DuckDB's memory cap while the report reads a run's results (it spills past it).
REPORT_MEMORY = "64MB"
# Latency quantiles are exact up to this many results, estimated (approx_quantile) above.
EXACT_QUANTILES = 200_000

_COLUMNS = {
    "response": "JSON",
    "api": "VARCHAR",
    "model_name": "VARCHAR",
    "status": "VARCHAR",
    "error": "VARCHAR",
    "error_kind": "VARCHAR",
    "attempts": "BIGINT",
    "latency_s": "DOUBLE",
    # Older results lack the cache and reasoning counts: read as NULL.
    "usage": "STRUCT(input_tokens BIGINT, output_tokens BIGINT, cached_input_tokens BIGINT, "
    "cache_write_tokens BIGINT, reasoning_tokens BIGINT)",
    "rate_group": "VARCHAR",
    "prompt_key": "VARCHAR",
    "prompt": "JSON",
    "line": "BIGINT",
    "cost_usd": "DOUBLE",
    "cached": "BOOLEAN",
    # A template experiment's (runner.prompts.expand): variants compare as models do.
    "prompt_variant": "VARCHAR",
    "row_id": "VARCHAR",
    "repeat": "BIGINT",
}
# Answers shown in full-ish in the report's tables: the sample and the lowest-scoring.
SAMPLE_SIZE = 5
LOWEST_SCORING = 5
PROMPT_CHARS = 300
ANSWER_CHARS = 600


@dataclass
class RunData:
    """What the report of one run shows, all of it aggregated."""

    run_dir: Path
    meta: dict[str, Any]
    status: Table  # model, status, n
    latency: Table  # rate_group, model, n, p50, p90, p99, mean
    latency_hist: Table  # model, start, end, n
    attempts: Table  # model, attempts, n
    errors: Table  # error_kind, n
    # model, input_tokens, output_tokens, cost_usd, unpriced, cached_input_tokens,
    # cache_write_tokens, reasoning_tokens
    tokens: Table
    # A few failed prompts per error kind: model, prompt_key, prompt, error.
    error_examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    timeline: dict[str, Any] = field(default_factory=dict)
    scores: Table = field(default_factory=Table)  # step, model, n, mean, lo, hi
    score_hist: Table = field(default_factory=Table)  # step, model, value, n
    # A few prompts with their answers: model, prompt_key, prompt, answer, status (and
    # step, score for the lowest-scoring).
    sample: list[dict[str, Any]] = field(default_factory=list)
    lowest: list[dict[str, Any]] = field(default_factory=list)
    cached: int = 0
    # Over repeats: step, model, reduction, n (prompts), repeats, mean, lo, hi.
    repeat_scores: Table = field(default_factory=Table)

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or self.run_dir.name)

    @property
    def total(self) -> int:
        return int(sum(self.status["n"]))

    def count(self, status: str) -> int:
        return int(sum(self.status.where("status", status)["n"]))


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _open(completed: Path, spill: Path, *, resumed: bool = True) -> duckdb.DuckDBPyConnection:
    # Bounded whatever the run's size: a 1,000,000-prompt run's report spills to ``spill``
    # rather than holding every line in memory at the end of the run.
    con = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": REPORT_MEMORY,
            "threads": 1,
            "preserve_insertion_order": False,
            "temp_directory": str(spill),
        },
    )
    con.execute("SET enable_progress_bar = false")
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _COLUMNS.items()) + "}"
    con.execute(
        f"CREATE VIEW raw AS SELECT * FROM read_json({_literal(completed)}, "
        f"format = 'newline_delimited', columns = {columns}, ignore_errors = true)"
    )
    # The last line of a prompt wins (a resumed run may have retried it; a run never resumed
    # has one line a prompt, and skips the window). Prompt and error text are kept
    # (shortened) for failed prompts only: the examples are all that shows them.
    last_wins = (
        " QUALIFY row_number() OVER (PARTITION BY prompt_key ORDER BY line DESC) = 1 "
        "OR prompt_key IS NULL"
    )
    # Written to a Parquet file in ``spill`` and read from there: a table of ten million
    # results did not fit the cap, even in a database file (COPY streams, in bounded memory).
    table = _literal(spill / "results.parquet")
    con.execute(
        "COPY (SELECT api, model_name, status, error_kind, attempts, latency_s, "
        "usage, rate_group, prompt_key, line, cost_usd, cached, row_id, repeat, "
        "coalesce(model_name, api, '?') || coalesce(' · ' || prompt_variant, '') AS model, "
        "CASE WHEN status <> 'ok' THEN left(CAST(prompt AS VARCHAR), 2000) END AS prompt, "
        "CASE WHEN status <> 'ok' THEN left(error, 300) END AS error FROM raw"
        + (last_wins if resumed else "")
        + f") TO {table} (FORMAT parquet, ROW_GROUP_SIZE 16384)"
    )
    con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet({table})")
    return con


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> Table:
    return Table.of(con.execute(sql))


def load_run(run_dir: Path) -> RunData:
    """Read the aggregates of the run in ``run_dir``.

    Raises:
        BadInputError: the folder is not a run, or has no results yet.
    """
    meta_path, completed = run_dir / RUN_META, run_dir / COMPLETED
    if not meta_path.exists():
        raise BadInputError(f"{run_dir} is not a run folder (no {RUN_META}); pick one with run=ID")
    if not completed.exists() or completed.stat().st_size == 0:
        raise BadInputError(
            f"{run_dir} has no results yet ({COMPLETED} is missing or empty): nothing to report"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    with (
        tempfile.TemporaryDirectory(prefix="runner-report-") as spill,
        _open(completed, Path(spill), resumed=bool(meta.get("resumes"))) as con,
    ):
        data = RunData(
            run_dir=run_dir,
            meta=meta,
            status=_frame(
                con, "SELECT model, status, count(*) AS n FROM r GROUP BY ALL ORDER BY ALL"
            ),
            latency=_latency(con),
            latency_hist=_latency_hist(con),
            attempts=_frame(
                con, "SELECT model, attempts, count(*) AS n FROM r GROUP BY ALL ORDER BY ALL"
            ),
            errors=_frame(
                con,
                "SELECT coalesce(error_kind, 'error') AS error_kind, count(*) AS n FROM r "
                "WHERE status <> 'ok' GROUP BY 1 ORDER BY n DESC, 1",
            ),
            error_examples=_error_examples(con),
            tokens=_frame(
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
            ),
            timeline=_timeline(run_dir),
        )
        evaluations = run_dir / EVALUATIONS
        has_scores = evaluations.exists() and evaluations.stat().st_size > 0
        labels = _labels(run_dir.parent.parent, data.run_id)
        if has_scores or labels:
            from runner.report.scores import load_scores

            data.scores, data.score_hist = load_scores(
                con, evaluations if has_scores else None, labels
            )
        if has_scores:
            from runner.report.scores import load_repeat_scores

            data.repeat_scores = load_repeat_scores(con, evaluations)
            data.lowest = lowest_scoring(con, evaluations)
        data.sample = answers(
            con,
            "SELECT prompt_key, NULL AS step, NULL AS score FROM r WHERE status = 'ok' "
            f"ORDER BY line LIMIT {SAMPLE_SIZE}",
        )
        row = con.execute("SELECT count(*) FILTER (WHERE cached) FROM r").fetchone()
        data.cached = int(row[0]) if row and row[0] else 0
    return data


def _labels(outputs_dir: Path, run_id: str) -> dict[str, bool]:
    """The run's hand labels by prompt key (good: True), from the index and ``labels.jsonl``."""
    if not (outputs_dir / LABELS).is_file():
        return {}
    # wait=0: an index being updated is not waited for; the file alone answers then.
    found = current_labels(outputs_dir, run_id, wait=0)
    return {key: line["label"] == "good" for (_, key), line in found.items()}


def readable(value: Any) -> str:
    """A prompt or answer as text: a string as is, turns and chats one per paragraph."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return "\n\n".join(_turn(item) for item in value)
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def _turn(item: Any) -> str:
    if isinstance(item, dict) and "role" in item:
        content = item.get("content", item.get("parts", ""))
        if isinstance(content, list):
            content = " ".join(
                str(p.get("text", "[" + str(p.get("type", "part")) + "]"))
                if isinstance(p, dict)
                else str(p)
                for p in content
            )
        return f"{item['role']}: {content}"
    return str(item) if isinstance(item, str) else json.dumps(item, ensure_ascii=False)


def answers(con: duckdb.DuckDBPyConnection, keys_sql: str) -> list[dict[str, Any]]:
    """The prompts ``keys_sql`` names (prompt_key, step, score) with their prompt and answer.

    Reads the results file again for those prompts only: the run's table keeps no answers.
    """
    rows = con.execute(
        f"WITH k AS ({keys_sql}) SELECT coalesce(raw.model_name, raw.api, '?') AS model, "
        "raw.prompt_key, CAST(raw.prompt AS VARCHAR) AS prompt, "
        "CAST(raw.response AS VARCHAR) AS answer, raw.status, raw.error, k.step, k.score "
        "FROM raw JOIN k USING (prompt_key) "
        "QUALIFY row_number() OVER (PARTITION BY raw.prompt_key, k.step "
        "ORDER BY raw.line DESC) = 1 ORDER BY k.score NULLS LAST, raw.line"
    ).fetchall()
    out = []
    for model, key, prompt, answer, status, error, step, score in rows:
        text = readable(answer) if answer is not None else f"[{status}] {error or ''}"
        out.append(
            {
                "model": model,
                "prompt_key": key,
                "prompt": _cut(readable(prompt), PROMPT_CHARS),
                "answer": _cut(text, ANSWER_CHARS),
                "status": status,
                "step": step,
                "score": score,
            }
        )
    return out


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lowest_scoring(con: duckdb.DuckDBPyConnection, evaluations: Path) -> list[dict[str, Any]]:
    """The prompts with the lowest scores (any step), with their prompt and answer."""
    path = _literal(evaluations)
    return answers(
        con,
        "WITH ev AS (SELECT *, row_number() OVER () AS seq FROM read_json("
        f"{path}, format = 'newline_delimited', ignore_errors = true, columns = "
        "{'prompt_key': 'VARCHAR', 'step': 'VARCHAR', 'field': 'VARCHAR', 'value': 'JSON'})), "
        "e AS (SELECT * FROM ev WHERE field = 'score' QUALIFY row_number() OVER "
        "(PARTITION BY prompt_key, step ORDER BY seq DESC) = 1) "
        "SELECT prompt_key, step, CASE json_type(value) WHEN 'BOOLEAN' THEN "
        "CAST(CAST(value AS VARCHAR) = 'true' AS DOUBLE) "
        "ELSE TRY_CAST(CAST(value AS VARCHAR) AS DOUBLE) END AS score FROM e "
        f"WHERE score IS NOT NULL ORDER BY score, prompt_key LIMIT {LOWEST_SCORING}",
    )


def _latency(con: duckdb.DuckDBPyConnection) -> Table:
    # Exact quantiles hold every latency in memory, which REPORT_MEMORY cannot at millions of
    # prompts (1,000,000 ran out): above EXACT_QUANTILES, t-digest estimates in fixed memory.
    row = con.execute("SELECT count(latency_s) FROM r").fetchone()
    exact = row is None or int(row[0]) <= EXACT_QUANTILES
    q = "quantile_cont" if exact else "approx_quantile"
    return _frame(
        con,
        "SELECT rate_group, model, count(latency_s) AS n, "
        f"{q}(latency_s, 0.5) AS p50, {q}(latency_s, 0.9) AS p90, "
        f"{q}(latency_s, 0.99) AS p99, avg(latency_s) AS mean "
        "FROM r WHERE latency_s IS NOT NULL GROUP BY ALL ORDER BY ALL",
    )


def _latency_hist(con: duckdb.DuckDBPyConnection) -> Table:
    row = con.execute("SELECT max(latency_s) FROM r").fetchone()
    top = float(row[0]) if row and row[0] is not None else 0.0
    width = max(top, 1e-3) / LATENCY_BINS
    return _frame(
        con,
        f"SELECT model, least(floor(latency_s / {width!r}), {LATENCY_BINS - 1}) * {width!r} "
        f'AS start, count(*) AS n, start + {width!r} AS "end" FROM r '
        "WHERE latency_s IS NOT NULL GROUP BY ALL ORDER BY ALL",
    )


def _error_examples(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    examples = _frame(
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


def _timeline(run_dir: Path) -> dict[str, Any]:
    path = run_dir / TIMELINE_FILE
    if not path.exists():
        return {}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    return data
