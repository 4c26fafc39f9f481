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

from runner.errors import BadInputError
from runner.index.labels import LABELS_FILE, current_labels
from runner.output.run_folder import COMPLETED, RUN_META
from runner.report.aggregates import (
    EXAMPLES_PER_KIND,
    error_examples,
    latency,
    latency_hist,
    read_timeline,
    tokens,
)
from runner.report.answers import SAMPLE_SIZE, answers, lowest_scoring, readable
from runner.report.results_db import frame, open_results
from runner.report.table import Table

# EXAMPLES_PER_KIND and readable are read from here by the report's page and tests.
__all__ = ["EVALUATIONS", "EXAMPLES_PER_KIND", "LABELS", "RunData", "load_run", "readable"]

EVALUATIONS = "evaluations.jsonl"
# Hand labels from the viewer, beside the outputs (runner.view.labels writes them).
LABELS = LABELS_FILE


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
        open_results(completed, Path(spill), resumed=bool(meta.get("resumes"))) as con,
    ):
        data = _aggregates(con, run_dir, meta)
        _add_scores(con, data)
        data.sample = answers(
            con,
            "SELECT prompt_key, NULL AS step, NULL AS score FROM r WHERE status = 'ok' "
            f"ORDER BY line LIMIT {SAMPLE_SIZE}",
        )
        row = con.execute("SELECT count(*) FILTER (WHERE cached) FROM r").fetchone()
        data.cached = int(row[0]) if row and row[0] else 0
    return data


def _aggregates(con: duckdb.DuckDBPyConnection, run_dir: Path, meta: dict[str, Any]) -> RunData:
    """The run's counts, latency, errors, tokens and timeline."""
    return RunData(
        run_dir=run_dir,
        meta=meta,
        status=frame(con, "SELECT model, status, count(*) AS n FROM r GROUP BY ALL ORDER BY ALL"),
        latency=latency(con),
        latency_hist=latency_hist(con),
        attempts=frame(
            con, "SELECT model, attempts, count(*) AS n FROM r GROUP BY ALL ORDER BY ALL"
        ),
        errors=frame(
            con,
            "SELECT coalesce(error_kind, 'error') AS error_kind, count(*) AS n FROM r "
            "WHERE status <> 'ok' GROUP BY 1 ORDER BY n DESC, 1",
        ),
        error_examples=error_examples(con),
        tokens=tokens(con),
        timeline=read_timeline(run_dir),
    )


def _add_scores(con: duckdb.DuckDBPyConnection, data: RunData) -> None:
    """The run's scores and hand labels, and its lowest-scoring answers, when it has any."""
    evaluations = data.run_dir / EVALUATIONS
    has_scores = evaluations.exists() and evaluations.stat().st_size > 0
    labels = _labels(data.run_dir.parent.parent, data.run_id)
    if has_scores or labels:
        from runner.report.scores import load_scores

        data.scores, data.score_hist = load_scores(con, evaluations if has_scores else None, labels)
    if has_scores:
        from runner.report.scores import load_repeat_scores

        data.repeat_scores = load_repeat_scores(con, evaluations)
        data.lowest = lowest_scoring(con, evaluations)


def _labels(outputs_dir: Path, run_id: str) -> dict[str, bool]:
    """The run's hand labels by prompt key (good: True), from the index and ``labels.jsonl``."""
    if not (outputs_dir / LABELS).is_file():
        return {}
    # wait=0: an index being updated is not waited for; the file alone answers then.
    found = current_labels(outputs_dir, run_id, wait=0)
    return {key: line["label"] == "good" for (_, key), line in found.items()}
