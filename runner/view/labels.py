"""Hand review: good/bad labels with a note, appended to ``<outputs>/labels.jsonl``.

The only file the viewer writes. Lines are only ever appended (never rewritten), each names
the run and prompt it labels; the newest line for a (run, prompt) wins. Runs' results are
never touched. The report counts the labels as a scorer named ``human`` (good 1, bad 0).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.index.labels import LABELS, current_labels, labels_path

NOTE_CHARS = 2000
_LOCK = threading.Lock()
__all__ = ["LABELS", "append_label", "labels_path", "read_labels"]


def append_label(
    outputs_dir: Path, run_id: str, prompt_key: str, label: str, note: str
) -> dict[str, Any]:
    """Append one label; returns the line written.

    Raises:
        ValueError: the label is not good or bad, or the run or prompt is empty.
    """
    if label not in LABELS or not run_id or not prompt_key:
        raise ValueError("a label needs run, key and label=good|bad")
    line = {
        "run_id": run_id,
        "prompt_key": prompt_key,
        "label": label,
        "note": note[:NOTE_CHARS],
        "labelled_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
    with _LOCK:
        # O_APPEND: one write per line, so concurrent writers never interleave within a line.
        fd = os.open(labels_path(outputs_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    return line


def read_labels(
    outputs_dir: Path, run_id: str | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest label per (run, prompt), of one run or all (see :func:`current_labels`)."""
    return current_labels(outputs_dir, run_id)
