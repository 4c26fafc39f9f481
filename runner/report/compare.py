"""Several runs side by side (a sweep, or every run of an experiment): one row per run.

Runs are never added together: two runs of the same model (a seed or temperature sweep) are
two rows, each labelled by the settings that differ between the runs compared.
"""

from __future__ import annotations

from typing import Any

from runner.report.data import RunData
from runner.report.table import Table

# Config keys that differ between any two runs and say nothing about the settings compared.
_IGNORED = ("run_id", "resume", "outputs_dir", "progress", "index", "env_file")
# The most differing settings written into a row's label.
MAX_LABEL_SETTINGS = 4


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): str(value)}


def differing_settings(runs: list[RunData]) -> list[dict[str, str]]:
    """Per run, the config settings whose value is not the same in every run."""
    flats = [_flatten(data.meta.get("config") or {}) for data in runs]
    keys = sorted({k for flat in flats for k in flat})
    differ = [
        k
        for k in keys
        if k.split(".")[-1] not in _IGNORED and len({flat.get(k, "(unset)") for flat in flats}) > 1
    ]
    return [{k: flat.get(k, "(unset)") for k in differ} for flat in flats]


def _label(model: str, run_id: str, settings: dict[str, str]) -> str:
    shown = [
        f"{k.removeprefix('model.')}={v[:24]}"
        for k, v in settings.items()
        if k not in ("model.model_name", "model.api")
    ][:MAX_LABEL_SETTINGS]
    return f"{model} · {', '.join(shown) if shown else run_id}"


def _weighted(values: list[float], weights: list[int], total: int) -> float:
    return float(sum(v * w for v, w in zip(values, weights, strict=True)) / total)


def _run_rows(data: RunData, settings: dict[str, str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for model in sorted(set(data.status["model"]), key=str):
        status = data.status.where("model", model)
        n = int(sum(status["n"]))
        ok = int(sum(status.where("status", "ok")["n"]))
        row: dict[str, object] = {
            "run": _label(str(model), data.run_id, settings),
            "model": model,
            "run_id": data.run_id,
            "settings": ", ".join(f"{k}={v}" for k, v in settings.items()) or "-",
            "prompts": n,
        }
        row["ok_rate"] = ok / n if n else None
        latency = data.latency.where("model", model)
        total = sum(latency["n"])
        if total:
            row["p50_latency_s"] = _weighted(latency["p50"], latency["n"], total)
            row["p90_latency_s"] = _weighted(latency["p90"], latency["n"], total)
        tokens = data.tokens.where("model", model)
        if not tokens.empty:
            row["output_tokens"] = int(sum(tokens["output_tokens"]))
            cost = tokens["cost_usd"][0]
            row["cost_usd"] = None if cost is None else float(cost)
        if not data.scores.empty:
            for score in data.scores.where("model", model).records():
                row[f"score:{score['step']}"] = float(score["mean"])
        rows.append(row)
    return rows


def comparison_table(runs: list[RunData]) -> Table:
    """One row per (run, model): its differing settings, prompts, ok rate, latency, scores."""
    settings = differing_settings(runs)
    rows = [row for data, s in zip(runs, settings, strict=True) for row in _run_rows(data, s)]
    rows.sort(key=lambda r: (str(r["model"]), str(r["run"]), str(r["run_id"])))
    return Table.from_records(rows)
