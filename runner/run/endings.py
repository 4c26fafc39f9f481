"""What a run does after sending: its timeline, warnings, scores, index and report.

None of these fails a run whose results are written: each says what went wrong and how
to make the missing part again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loguru import logger

from runner.commands import shell_command
from runner.cost.spending import Spending
from runner.engine.timeline import Timeline
from runner.errors import DiskFullError, RunnerError
from runner.limits.shared_limits import never_binds
from runner.output.money import dollars
from runner.output.run_folder import RunFolder


def some_groups(groups: list[Any], shown: int = 20) -> str:
    """The first groups with their sizes and limits, then how many more (100,000 groups)."""
    text = ", ".join(
        f"{g.name} ({g.count} at {_per_minute(g.rate_per_minute)})" for g in groups[:shown]
    )
    return text + (f", and {len(groups) - shown:,} more" if len(groups) > shown else "")


def _per_minute(rate: float) -> str:
    return "no limit" if never_binds(rate) else f"{rate:g}/min"


def say_budget_reached(spending: Spending, command: str) -> None:
    """Warn that ``max_cost_usd`` stopped the run, and how to go on with a new budget."""
    budget = spending.budget
    sweep = (
        "" if budget.ledger is None else f" (the sweep's jobs: {dollars(budget.ledger.spent())})"
    )
    logger.warning(
        "Budget reached: this run spent {}{} of max_cost_usd={}; {} prompt(s) were not sent "
        "(error_kind budget). Continue with a new budget: {} max_cost_usd=<USD>",
        dollars(budget.spent_usd),
        sweep,
        dollars(budget.limit_usd),
        sum(budget.refused.values()),
        command,
    )


def write_timeline(timeline: Timeline, folder: RunFolder, *, failing: bool) -> None:
    """Write the groups' timeline (for the report's charts); a failure only warns."""
    try:
        timeline.write(folder.path)
    except (OSError, DiskFullError) as exc:  # the results are safe; only the charts suffer
        # A run already failing (a full disk) has told the user what matters: run.log only.
        level = "DEBUG" if failing else "WARNING"
        logger.log(level, "The run's timeline was not written: {}", exc)


def mean_scores(path: Path) -> dict[str, tuple[float, int]]:
    """Each evaluation step's mean numeric ``score`` and how many results it scored."""
    totals: dict[str, list[float]] = {}
    latest: dict[tuple[str, str], float] = {}  # the last line per prompt and step wins
    if path.exists():
        for raw in path.read_text(encoding="utf-8").splitlines():
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            value = line.get("value")
            if line.get("field") == "score" and isinstance(value, int | float):
                latest[(str(line.get("step")), str(line.get("prompt_key")))] = float(value)
    for (step, _key), value in latest.items():
        totals.setdefault(step, []).append(value)
    return {step: (sum(v) / len(v), len(v)) for step, v in totals.items()}


def update_run_index(outputs_dir: Path, evaluated: Path | None = None) -> None:
    """Bring the DuckDB index up to date; a busy or broken index never fails a run."""
    from runner.index import update_index

    try:
        update_index(outputs_dir)
        if evaluated is not None:
            from runner.evaluation import index_evaluations

            index_evaluations(outputs_dir, [evaluated])
    except RunnerError as exc:
        command = shell_command("runner.index", "--outputs-dir", str(outputs_dir))
        logger.warning("The results index was not updated: {} (run {})", exc, command)


def write_run_report(folder: RunFolder) -> Path | None:
    """Write the run's ``report.html``; a report that fails never fails the run."""
    from runner.report import report_run

    try:
        return report_run(folder.path)
    except Exception as exc:  # the results are written; the report can be made again
        command = shell_command(
            "runner.report",
            f"run={folder.run_id}",
            f"experiment={folder.path.parent.name}",
            f"outputs_dir={folder.path.parent.parent}",
        )
        logger.warning("The report was not written: {} (try: {})", exc, command)
        return None


def say_ending_stopped(folder: RunFolder, outputs_dir: Path) -> None:
    """A stop came while the index and the report were written: how to make them again."""
    report = shell_command(
        "runner.report",
        f"run={folder.run_id}",
        f"experiment={folder.path.parent.name}",
        f"outputs_dir={outputs_dir}",
    )
    index = shell_command("runner.index", "--outputs-dir", str(outputs_dir))
    logger.warning(
        "Stopped while the report and the index were written; the run itself is complete "
        "(run.json). Make them with: {} and {}",
        report,
        index,
    )
