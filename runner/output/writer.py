"""Stream results to ``completed.jsonl``, one line per prompt, as they arrive."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any, Self


class ResultWriter:
    """Appends one JSON line per result and hands it to the OS at once.

    Each line is written whole and flushed, so a crash or ``kill -9`` loses at most the
    line being written, never one already written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("a", encoding="utf-8")
        self.count = 0

    def write(self, result: dict[str, Any]) -> None:
        """Append ``result`` as one line."""
        line = json.dumps(result, ensure_ascii=False, default=str)
        self._handle.write(line + "\n")
        self._handle.flush()
        self.count += 1

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
