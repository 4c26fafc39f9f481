"""A sweep's job whose launching process died stops as on Ctrl-C, then exits.

joblib's workers (loky processes) outlive a sweep killed with ``kill -9``: they went on
sending, and being billed for, every prompt of their jobs, then hung for good handing
their results back to a process that was gone. A job run in such a worker watches its
parent; once the parent is gone it stops as on SIGTERM (no new request, those in flight
waited for, ``run.json`` says ``interrupted``) and its process exits.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable

from loguru import logger

# How often a worker looks at its parent: a dead sweep costs at most this much more sending.
POLL_S = 0.5


class _Watch:
    """Watches, in a thread, that the process that started this one is still its parent."""

    def __init__(self) -> None:
        self.parent = os.getppid()
        self.orphaned = threading.Event()
        self.done = threading.Event()

    def watch(self) -> None:
        while not self.done.wait(POLL_S):
            if os.getppid() != self.parent:
                self.orphaned.set()
                logger.warning(
                    "The sweep's process (pid {}) has ended: stopping this job as on Ctrl-C",
                    self.parent,
                )
                os.kill(os.getpid(), signal.SIGTERM)
                return


def in_launcher_worker() -> bool:
    """Whether this process is a worker a launcher started (joblib's loky), not the command."""
    return multiprocessing.current_process().name != "MainProcess"


def run_watched(job: Callable[[], int]) -> int:
    """``job()``'s exit status; in a launcher's worker, stopped and exited if orphaned."""
    if not in_launcher_worker():
        return job()
    watch = _Watch()
    threading.Thread(target=watch.watch, name="runner-orphan-watch", daemon=True).start()
    code = 1
    try:
        code = job()
    finally:
        watch.done.set()
        if watch.orphaned.is_set():
            # No one is left to take this job's result: handing it back would block for good.
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os._exit(code)
    return code
