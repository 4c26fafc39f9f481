"""Stream results to ``completed.jsonl``, one line per prompt, as they arrive."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from runner.errors import DiskFullError
from runner.output.disk import write_failed
from runner.redaction import redact_utf8
from runner.wire_json import json_line

# How far back one read looks for the end of the last whole line.
_TAIL = 64 * 1024


def whole_lines_end(path: Path, size: int) -> int:
    """Where the last whole line of ``path`` ends: ``size`` if its last byte is a newline."""
    with open(path, "rb") as f:
        end = size
        while end > 0:
            start = max(0, end - _TAIL)
            f.seek(start)
            chunk = f.read(end - start)
            if end == size and chunk.endswith(b"\n"):
                return size
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0


class ResultWriter:
    """Appends one JSON line per result and hands it to the OS at once.

    Each line is written whole and flushed, so a crash or ``kill -9`` loses at most the
    line being written, never one already written; such a torn last line is cut off when
    the file is opened again. Key values are masked in every line.
    When the disk refuses a line, the file is cut back to its last whole line and the
    writer stops with :class:`~runner.errors.DiskFullError`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # Unbuffered: a refused write leaves nothing behind in a buffer to flush later.
            self._handle = path.open("ab", buffering=0)
        except OSError as exc:
            raise write_failed(exc, path, "results") from None
        self._size = self._handle.tell()
        whole = whole_lines_end(path, self._size) if self._size else 0
        if whole < self._size:
            # A crash mid-line (kill -9) left a line with no end: the next line would have
            # been glued to it and both lost (evaluations.jsonl after a resume). Cut it.
            os.truncate(path, whole)
            self._size = whole
        self._failed: DiskFullError | None = None
        self.count = 0

    def write(self, result: dict[str, Any]) -> None:
        """Append ``result`` as one line.

        Raises:
            DiskFullError: the line could not be written (the file keeps every line before).
        """
        if self._failed is not None:
            raise self._failed
        data = redact_utf8(json_line(result))
        try:
            view = memoryview(data)
            while view:
                view = view[self._handle.write(view) or 0 :]
        except OSError as exc:
            self._abandon()
            self._failed = write_failed(exc, self.path, "results")
            raise self._failed from None
        self._size += len(data)
        self.count += 1

    def _abandon(self) -> None:
        """Drop the line that did not fit, keeping every whole line on disk."""
        with contextlib.suppress(OSError):
            os.truncate(self.path, self._size)
        with contextlib.suppress(OSError):
            self._handle.close()

    def close(self) -> None:
        if not self._handle.closed:
            try:
                self._handle.close()
            except OSError as exc:
                raise write_failed(exc, self.path, "results") from None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
