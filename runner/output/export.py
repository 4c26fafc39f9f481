"""Results as a pandas DataFrame, and as CSV (dict and list columns as JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def read_results(path: Path) -> pd.DataFrame:
    """The results of ``completed.jsonl`` as a DataFrame (a torn last line is skipped)."""
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # a line still being written, or torn by a crash
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return pd.DataFrame(rows)


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV, with dict and list cells as JSON text."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(_cell)
    out.to_csv(path, index=False)
