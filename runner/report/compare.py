"""Several runs side by side (a sweep, or every run of an experiment): model x metric."""

from __future__ import annotations

import pandas as pd

from runner.report.data import RunData


def _run_rows(data: RunData) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for model, status in data.status.groupby("model"):
        n = int(status["n"].sum())
        ok = int(status.loc[status["status"] == "ok", "n"].sum())
        row: dict[str, object] = {"model": model, "run_id": data.run_id, "prompts": n}
        row["ok_rate"] = ok / n if n else None
        latency = data.latency[data.latency["model"] == model]
        if not latency.empty:
            weights = latency["n"] / latency["n"].sum()
            row["p50_latency_s"] = float((latency["p50"] * weights).sum())
            row["p90_latency_s"] = float((latency["p90"] * weights).sum())
        tokens = data.tokens[data.tokens["model"] == model]
        if not tokens.empty:
            row["output_tokens"] = int(tokens["output_tokens"].sum())
        if not data.scores.empty:
            for _, score in data.scores[data.scores["model"] == model].iterrows():
                row[f"score:{score['step']}"] = float(score["mean"])
        rows.append(row)
    return rows


def comparison_table(runs: list[RunData]) -> pd.DataFrame:
    """One row per (model, run): prompts, ok rate, latency, output tokens, mean scores."""
    rows = [row for data in runs for row in _run_rows(data)]
    return pd.DataFrame(rows).sort_values(["model", "run_id"]).reset_index(drop=True)
