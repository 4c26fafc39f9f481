"""A sweep stops as a whole: once a job is stopped (Ctrl-C, SIGTERM, SIGHUP), no other starts.

Before, Ctrl-C stopped the jobs running then, and the sweep started the next ones, which
sent (and were paid for) every prompt. A stopped job leaves :data:`SWEEP_STOPPED` in the
sweep's folder; a job that finds it is not started (``runner.orphan.run_watched``).

With joblib, the jobs run in worker processes: the sweep's own process then turns Ctrl-C
and SIGTERM into that stop instead of an abort that killed the workers mid-write (their
runs left saying ``running``). Ctrl-C and a closed terminal (SIGHUP) reach the workers
themselves; SIGTERM, sent to the sweep's process alone (``timeout``, ``kill``), is passed on
to them. Any of them a second time exits at once, as before.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from loguru import logger

from runner.std_streams import terminal_gone
from runner.stop_signals import STOP_SIGNALS, handled

SWEEP_STOPPED = ".stopped"
T = TypeVar("T")


def sweep_stopped(sweep_dir: Path) -> bool:
    """Whether a job of the sweep in ``sweep_dir`` was stopped (Ctrl-C, SIGTERM)."""
    return (sweep_dir / SWEEP_STOPPED).exists()


def mark_sweep_stopped(sweep_dir: Path) -> None:
    """Record that the sweep was stopped, so that its jobs not started yet are not."""
    with contextlib.suppress(OSError):  # a full disk: the jobs left run, as before
        (sweep_dir / SWEEP_STOPPED).touch()


def _loky_workers() -> list[int]:
    """This process's joblib (loky) workers, from ``/proc`` (none where there is no /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == os.getpid() and b"popen_loky" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def together(cfg: Any, launch: Callable[[], T]) -> T:
    """``launch()`` (the sweep's jobs), stopping together (see the module's docstring)."""
    with _stopping_together(cfg):
        return launch()


@contextlib.contextmanager
def _stopping_together(cfg: Any) -> Iterator[None]:
    """Around a sweep's launch: a stale stop cleared; with joblib, signals stop the sweep."""
    sweep_dir = Path(str(cfg.hydra.sweep.dir))
    (sweep_dir / SWEEP_STOPPED).unlink(missing_ok=True)  # a sweep folder given again
    if "joblib" not in str(cfg.hydra.launcher.get("_target_", "")):
        yield  # jobs run in this process: each run's own Ctrl-C handling stops it
        return
    signalled: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if signalled:
            raise KeyboardInterrupt  # the second time: at once
        signalled.append(signum)
        if signum == getattr(signal, "SIGHUP", None):
            terminal_gone()  # the terminal closed: what follows goes to the runs' logs
        mark_sweep_stopped(sweep_dir)
        if signum == signal.SIGTERM:  # Ctrl-C, a closed terminal: the workers have it too
            for pid in _loky_workers():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
        logger.warning(
            "{}: stopping the sweep: its running jobs stop, no other starts. Again to exit "
            "at once.",
            signal.Signals(signum).name,
        )

    with handled(STOP_SIGNALS, stop):
        yield
