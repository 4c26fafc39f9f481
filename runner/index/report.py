"""What an index update did: the value :func:`runner.index.update_index` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SkippedLine:
    """A line of a JSONL file that was not indexed, and why (``file`` is outputs-relative)."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class IndexReport:
    """A summary of one update of ``<outputs_dir>/index.duckdb``."""

    db_path: Path
    runs_seen: int = 0
    runs_updated: int = 0
    files_read: int = 0
    rows_added: int = 0
    files_removed: int = 0
    rebuilt: bool = False
    seconds: float = 0.0
    skipped: list[SkippedLine] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the update changed anything in the database."""
        return bool(self.runs_updated or self.files_read or self.files_removed or self.rebuilt)

    def summary(self) -> str:
        """One line for a log or a terminal."""
        text = (
            f"index {self.db_path}: {self.rows_added} response(s) added from "
            f"{self.files_read} file(s), {self.runs_updated} run(s) updated, "
            f"{self.runs_seen} run(s) in total"
        )
        if self.files_removed:
            text += f", {self.files_removed} vanished file(s) dropped"
        if self.skipped:
            text += f", {len(self.skipped)} bad line(s) skipped"
        return f"{text} ({self.seconds:.2f} s)"
