"""One writer per run folder: an OS lock held for the life of the run.

``fcntl.flock`` on ``<run>/.lock``: the kernel drops it when the process ends, however it
ends (kill -9 included), so a crashed run never leaves a stale lock behind. The holder's
PID and host are written into the file so a refused resume can say which process holds the
run, and the viewer can tell a run killed on this host from one still going.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import IO

from runner.errors import BadInputError
from runner.output.disk import write_failed
from runner.processes import process_alive


class RunLock:
    """The exclusive lock of one run folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self, run_id: str) -> None:
        """Take the lock, or refuse when another process holds it.

        Raises:
            BadInputError: another process is writing this run (exit 2, nothing touched).
            DiskFullError: the lock file could not be written (exit 1, nothing sent).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = (handle.read().split() or ["unknown"])[0]
            handle.close()
            raise BadInputError(
                f"run {run_id} is still being written by process {holder} "
                f"({self.path.parent}); wait for it to end, or stop it "
                f"(kill -INT {holder}), then resume."
            ) from None
        self._handle = handle
        try:
            # Unbuffered: a write the disk refused leaves nothing for close() to flush again.
            os.ftruncate(handle.fileno(), 0)
            os.write(handle.fileno(), f"{os.getpid()}\n{socket.gethostname()}\n".encode())
        except OSError as exc:  # a full disk: one line naming the file, nothing sent
            self.release()
            raise write_failed(exc, self.path, "the run's lock file") from None

    def release(self) -> None:
        """Let the lock go (the file stays: removing it would race a waiting process)."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def writer_ended(lock_file: Path) -> bool:
    """Whether the process named in a run's lock file ran on this host and has ended."""
    try:
        pid, host = lock_file.read_text(encoding="utf-8").split()[:2]
    except (OSError, ValueError):
        return False  # no word of its writer (or of its host): cannot tell
    return host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))
