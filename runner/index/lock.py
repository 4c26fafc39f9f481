"""An inter-process lock next to the database, so two indexers never write at once.

DuckDB allows one read-write process *or* several read-only processes on a file; a second
writer fails with an opaque I/O error. ``flock`` on ``index.duckdb.lock`` turns that into an
orderly wait: writers take the lock exclusively, readers take it shared, and both give up with
:class:`IndexBusyError` after a timeout. The kernel drops the lock when its process dies, so a
crashed indexer never leaves the index locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.index.errors import IndexBusyError, ResultsIndexError

# How often a waiting process retries; short enough to feel instant, long enough to be cheap.
_POLL_S = 0.05


def lock_path(db_path: Path) -> Path:
    """The lock file that guards ``db_path``."""
    return db_path.with_name(db_path.name + ".lock")


def _holder(path: Path) -> str:
    """Who holds the lock, as far as the lock file tells (writers record their pid)."""
    try:
        pid = path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return f" (held by pid {pid})" if pid.isdigit() else ""


@contextmanager
def index_lock(db_path: Path, *, exclusive: bool, timeout: float) -> Iterator[None]:
    """Hold the index lock for the ``with`` block; writers pass ``exclusive=True``.

    Raises:
        IndexBusyError: the lock was not free within ``timeout`` seconds.
    """
    path = lock_path(db_path)
    try:
        # Opened without truncation: truncating here would erase the pid the holder wrote.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exclusive:
            raise ResultsIndexError(
                f"cannot create the lock file {path}: {exc.strerror}; the outputs folder "
                "must be writable to update the index."
            ) from None
        try:
            fd = os.open(path, os.O_RDONLY)  # a read-only folder: flock works on this too
        except OSError:
            # Nobody can write here, so nobody can be updating the index: read unlocked.
            yield
            return
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexBusyError(
                        f"index is busy: another process is using {db_path}{_holder(path)}; "
                        f"waited {timeout:g} s. Try again when it finishes (or pass a longer "
                        "--wait)."
                    ) from None
                time.sleep(_POLL_S)
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            if exclusive:
                # Erase our pid so a later reader's wait does not blame a finished process.
                os.ftruncate(fd, 0)
    finally:
        # Closing the descriptor releases the flock.
        os.close(fd)
