"""The run report: ``report.html``, one self-contained page per run (or per sweep).

:func:`report_run` writes a run's report into its folder (the run does it at its end);
``python -m runner.report`` writes one for any run, several runs, or a sweep.
"""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from runner.errors import BadInputError
from runner.report.data import RunData, load_run
from runner.report.render import REPORT_FILE, write_report


def report_run(run_dir: Path) -> Path:
    """Write ``<run_dir>/report.html``; returns its path.

    Raises:
        BadInputError: the folder is not a run or has no results.
    """
    data = load_run(run_dir)
    title = f"{data.meta.get('experiment', 'run')} · run {data.run_id}"
    return write_report([data], run_dir / REPORT_FILE, title)


def report_runs(run_dirs: list[Path], out: Path, title: str) -> Path:
    """Write one report of several runs side by side to ``out``; returns its path.

    Of several runs, those without results (a run that failed before sending) are left out.

    Raises:
        BadInputError: no run has results.
    """
    if len(run_dirs) == 1:
        return write_report([load_run(run_dirs[0])], out, title)
    runs = []
    for run_dir in run_dirs:
        try:
            runs.append(load_run(run_dir))
        except BadInputError as exc:
            logger.warning("Left out of the report: {}", exc)
    if not runs:
        raise BadInputError(f"none of the {len(run_dirs)} runs has results: nothing to report")
    return write_report(runs, out, title)


__all__ = ["REPORT_FILE", "RunData", "load_run", "report_run", "report_runs"]
