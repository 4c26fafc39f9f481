"""A sweep's jobs: one whose launching process died stops as on Ctrl-C, then exits; once
one was stopped, those not started yet are not.

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
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from loguru import logger

from runner.cli import INTERRUPTED
from runner.config.sweep_stop import mark_sweep_stopped, sweep_stopped
from runner.output.run_folder import RunFolder

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


def run_watched(job: Callable[[], int], sweep_dir: Path | None = None) -> int:
    """``job()``'s exit status; in a launcher's worker, stopped and exited if orphaned.

    A job of a sweep (``sweep_dir``) that was stopped is not started: Ctrl-C stops the
    sweep, not only the jobs running then.
    """
    if sweep_dir is not None and sweep_stopped(sweep_dir):
        logger.warning("The sweep was stopped: this job is not started")
        RunFolder(Path(HydraConfig.get().runtime.output_dir)).remove_if_unused()
        return INTERRUPTED
    code = _watched(job)
    if code == INTERRUPTED and sweep_dir is not None:
        mark_sweep_stopped(sweep_dir)
    return code


def _watched(job: Callable[[], int]) -> int:
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
