"""``<run_dir>/evaluations.jsonl``: one line per (prompt_key, step, field), appended as scored.

The file is append-only: evaluating a run again adds lines, and for each (prompt_key, step,
field) the last line wins (see :func:`latest_rows`). ``completed.jsonl`` is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.output.writer import ResultWriter

EVALUATIONS = "evaluations.jsonl"


def as_value(value: Any) -> Any:
    """A field's value as a JSON scalar; anything else (a list, a dict) as JSON text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


class EvaluationWriter:
    """Appends evaluation rows to a run's ``evaluations.jsonl``, each line flushed at once."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / EVALUATIONS
        self._writer: ResultWriter | None = None
        self.count = 0

    def write(self, run_id: str, prompt_key: str, step: str, fields: Mapping[str, Any]) -> None:
        """Write one line per field of one step's result."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = ResultWriter(self.path)
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        for name, value in fields.items():
            self._writer.write(
                {
                    "run_id": run_id,
                    "prompt_key": prompt_key,
                    "step": step,
                    "field": name,
                    "value": as_value(value),
                    "created_at": created,
                }
            )
            self.count += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of an ``evaluations.jsonl`` (a torn or broken line is skipped)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # still being written
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and {"run_id", "prompt_key", "step", "field"} <= row.keys():
                yield row


def latest_rows(path: Path) -> list[dict[str, Any]]:
    """One row per (run_id, prompt_key, step, field): the last one written."""
    latest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in read_rows(path):
        key = (str(row["run_id"]), str(row["prompt_key"]), str(row["step"]), str(row["field"]))
        latest.pop(key, None)  # re-inserted so the order stays the order of the last write
        latest[key] = row
    return list(latest.values())


def value_num(value: Any) -> float | None:
    """The number a value stands for (true/false as 1/0), for ``avg()`` in SQL."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def value_text(value: Any) -> str | None:
    """A value as text: a string as is, anything else as JSON (``true``, ``4.5``)."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)
