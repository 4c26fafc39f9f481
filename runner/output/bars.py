"""The rich progress bars behind :class:`runner.output.progress.GroupProgress`."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from runner.output.progress import CurrentStats, PausedCheck, trouble_text
from runner.output.stats import GroupStats


class _TroubleColumn(ProgressColumn):
    """Errors, retries and a pause of the task's group, computed at every redraw."""

    def __init__(self, paused: PausedCheck, current: CurrentStats) -> None:
        super().__init__()
        self._paused = paused
        self._current = current

    def render(self, task: Task) -> Text:
        stats = self._current(str(task.fields.get("name", ""))) or task.fields.get("stats")
        if not isinstance(stats, GroupStats):
            return Text("")
        return Text(trouble_text(stats, self._paused(stats.name)), style="red")


def group_bars(paused: PausedCheck, current: CurrentStats) -> Progress:
    """Bars of done/total, rate, trouble, elapsed time and ETA, drawn on stderr."""
    return Progress(
        # A group's name is data: "g[/x]" is a name, not rich markup (it stopped the run).
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        _TroubleColumn(paused, current),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        refresh_per_second=4,
    )
