"""Several runs side by side (a sweep, or every run of an experiment): model x metric."""

from __future__ import annotations

from runner.report.data import RunData
from runner.report.table import Table


def _run_rows(data: RunData) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for model in sorted(set(data.status["model"]), key=str):
        status = data.status.where("model", model)
        n = int(sum(status["n"]))
        ok = int(sum(status.where("status", "ok")["n"]))
        row: dict[str, object] = {"model": model, "run_id": data.run_id, "prompts": n}
        row["ok_rate"] = ok / n if n else None
        latency = data.latency.where("model", model)
        total = sum(latency["n"])
        if total:
            row["p50_latency_s"] = _weighted(latency["p50"], latency["n"], total)
            row["p90_latency_s"] = _weighted(latency["p90"], latency["n"], total)
        tokens = data.tokens.where("model", model)
        if not tokens.empty:
            row["output_tokens"] = int(sum(tokens["output_tokens"]))
        if not data.scores.empty:
            for score in data.scores.where("model", model).records():
                row[f"score:{score['step']}"] = float(score["mean"])
        rows.append(row)
    return rows


def _weighted(values: list[float], weights: list[int], total: int) -> float:
    return float(sum(v * w for v, w in zip(values, weights, strict=True)) / total)


def comparison_table(runs: list[RunData]) -> Table:
    """One row per (model, run): prompts, ok rate, latency, output tokens, mean scores."""
    rows = [row for data in runs for row in _run_rows(data)]
    rows.sort(key=lambda r: (str(r["model"]), str(r["run_id"])))
    return Table.from_records(rows)
