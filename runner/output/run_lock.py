"""One writer per run folder: an OS lock held for the life of the run.

``fcntl.flock`` on ``<run>/.lock``: the kernel drops it when the process ends, however it
ends (kill -9 included), so a crashed run never leaves a stale lock behind. The holder's
PID is written into the file so a refused resume can say which process holds the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from runner.errors import BadInputError


class RunLock:
    """The exclusive lock of one run folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self, run_id: str) -> None:
        """Take the lock, or refuse when another process holds it.

        Raises:
            BadInputError: another process is writing this run (exit 2, nothing touched).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise BadInputError(
                f"run {run_id} is still being written by process {holder} "
                f"({self.path.parent}); wait for it to end, or stop it "
                f"(kill -INT {holder}), then resume."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Let the lock go (the file stays: removing it would race a waiting process)."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
