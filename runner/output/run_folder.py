"""The run folder: ``<outputs_dir>/<experiment>/<run_id>/`` and what goes in it."""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.output.disk import atomic_write_text, copy_file
from runner.redaction import redact

COMPLETED = "completed.jsonl"
RUN_META = "run.json"
LOG_FILE = "run.log"
INPUT_DIR = "input"
CSV_FILE = "results.csv"


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run's files."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def completed(self) -> Path:
        return self.path / COMPLETED

    @property
    def meta(self) -> Path:
        return self.path / RUN_META

    @property
    def log(self) -> Path:
        return self.path / LOG_FILE

    @property
    def csv(self) -> Path:
        return self.path / CSV_FILE

    def create(self, input_file: Path) -> None:
        """Make the folder and keep a copy of the input (the user's file is left alone)."""
        (self.path / INPUT_DIR).mkdir(parents=True, exist_ok=True)
        copy_file(input_file, self.path / INPUT_DIR / input_file.name, "the copy of the input")

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write ``run.json`` atomically, so a reader never sees half of it (or an empty one)."""
        text = redact(json.dumps(meta, indent=2, default=str)) + "\n"
        atomic_write_text(self.meta, text, "the run's state")

    def remove_if_unused(self) -> None:
        """Remove the folder when the run never started (bad input): no results, no input."""
        if self.path.is_dir() and not self.completed.exists():
            shutil.rmtree(self.path, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()  # only if no other run is in it
