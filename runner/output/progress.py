"""A live progress display per group: done/total, rate, errors, ETA. Quiet off a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from runner.engine.stats import GroupStats


def progress_enabled(mode: str) -> bool:
    """``auto`` shows progress only when stderr is a terminal."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    return sys.stderr.isatty()


class GroupProgress:
    """One bar per group, updated from the engine's counters."""

    def __init__(self, groups: Iterable[GroupStats], enabled: bool) -> None:
        self.enabled = enabled
        self._tasks: dict[str, TaskID] = {}
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("[red]{task.fields[errors]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
            refresh_per_second=4,
        )
        for stats in groups:
            self._tasks[stats.name] = self._progress.add_task(
                stats.name, total=stats.total, rate="", errors=""
            )

    def update(self, stats: GroupStats) -> None:
        """Show ``stats`` on its group's bar."""
        if not self.enabled:
            return
        task = self._progress.tasks[self._tasks[stats.name]]
        elapsed = task.elapsed or 0.0
        rate = f"{stats.done / elapsed * 60:,.0f}/min" if elapsed > 0 else ""
        errors = f"{stats.error} err" if stats.error else ""
        self._progress.update(
            self._tasks[stats.name], completed=stats.done, rate=rate, errors=errors
        )

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()
