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


class ResultWriter:
    """Appends one JSON line per result and hands it to the OS at once.

    Each line is written whole and flushed, so a crash or ``kill -9`` loses at most the
    line being written, never one already written. Key values are masked in every line.
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
