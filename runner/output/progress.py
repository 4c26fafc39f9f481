"""A live progress display per group: done/total, rate, trouble, ETA. Quiet off a terminal.

Trouble shows while the run goes: errors so far, retries, and ``paused`` while a group
waits out a rate limit's ``Retry-After`` (read at each redraw, so a pause shows even when
no prompt finishes during it).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Self

from runner.output.stats import GroupStats
from runner.visible import visible

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PausedCheck = Callable[[str], bool]
# A group's live counters by name (None before the engine started it).
CurrentStats = Callable[[str], GroupStats | None]


def progress_enabled(mode: str) -> bool:
    """``auto`` shows progress only when stderr is a terminal."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    return sys.stderr.isatty()


def trouble_text(stats: GroupStats, paused: bool) -> str:
    """What is going wrong in a group right now: errors, retries, a pause."""
    parts = []
    if stats.error:
        parts.append(f"{stats.error} err")
    if stats.retries:
        parts.append(f"{stats.retries} retries")
    if stats.slowdowns:
        parts.append(f"{stats.slowdowns} slowdowns")
    if paused:
        parts.append("PAUSED")
    return " · ".join(parts)


# The most groups drawn with a bar each; more are drawn as one bar.
MAX_BARS = 50


class GroupProgress:
    """One bar per group, updated from the engine's counters.

    Args:
        groups: each group's counters at the start.
        enabled: draw at all.
        paused: whether a group is paused now (its gate waits out a ``Retry-After``).
        current: a group's live counters, so retries show before any prompt finishes.
    """

    def __init__(
        self,
        groups: Iterable[GroupStats],
        enabled: bool,
        paused: PausedCheck | None = None,
        current: CurrentStats | None = None,
    ) -> None:
        self._tasks: dict[str, TaskID] = {}
        if not enabled:  # off a terminal: rich is not even loaded (~45 ms of start-up)
            self._progress: Progress | None = None
            return
        from runner.output.bars import group_bars

        self._progress = group_bars(
            paused or (lambda _name: False), current or (lambda _name: None)
        )
        shown = list(groups)
        # Too many groups for a bar each (100,000 rows redrawn 10 times a second): one bar.
        self._combined: GroupStats | None = None
        self._seen: dict[str, tuple[int, int, int, int]] = {}
        if len(shown) > MAX_BARS:
            rate = sum(g.rate_per_minute for g in shown)
            total = sum(g.total for g in shown) if all(g.total >= 0 for g in shown) else -1
            self._combined = GroupStats(f"all {len(shown):,} groups", rate, total)
            shown = [self._combined]
        for stats in shown:
            self._tasks[stats.name] = self._progress.add_task(
                visible(stats.name), total=stats.total, rate="", stats=stats, name=stats.name
            )

    def _combine(self, stats: GroupStats) -> GroupStats:
        """Add what changed in one group's counters to the one bar's."""
        assert self._combined is not None
        now = (stats.ok, stats.error, stats.retries, stats.slowdowns)
        before = self._seen.get(stats.name, (0, 0, 0, 0))
        self._seen[stats.name] = now
        combined = self._combined
        combined.ok += now[0] - before[0]
        combined.error += now[1] - before[1]
        combined.retries += now[2] - before[2]
        combined.slowdowns += now[3] - before[3]
        return combined

    def update(self, stats: GroupStats) -> None:
        """Show ``stats`` on its group's bar."""
        if self._progress is None:
            return
        if self._combined is not None:
            stats = self._combine(stats)
        task = self._progress.tasks[self._tasks[stats.name]]
        elapsed = task.elapsed or 0.0
        rate = f"{stats.done / elapsed * 60:,.0f}/min" if elapsed > 0 else ""
        self._progress.update(self._tasks[stats.name], completed=stats.done, rate=rate, stats=stats)

    def render_line(self, name: str) -> str:
        """The bar of group ``name`` as plain text (what a terminal shows now)."""
        if self._progress is None:
            return ""
        from rich.console import Console

        console = Console(width=200, record=True, color_system=None, file=io.StringIO())
        task = self._progress.tasks[self._tasks[name]]
        console.print(self._progress.make_tasks_table([task]))
        return console.export_text()

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
