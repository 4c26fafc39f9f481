"""One run, end to end: read, check, send, write, summarise, index.

Everything here takes typed settings; the command line and the Python API both call
:func:`execute_run`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner import __version__, logs
from runner.config.schema import RunConfig
from runner.config.setup import new_run_id
from runner.engine.clock import Clock, SystemClock
from runner.engine.stats import GroupStats
from runner.engine.stopping import EXIT_INTERRUPTED
from runner.engine.timeline import Timeline
from runner.errors import BadInputError, RunnerError
from runner.output.export import export_csv, read_results
from runner.output.resume import check_same_input, find_run, repair_and_collect
from runner.output.run_folder import RunFolder
from runner.output.summary import Summary
from runner.output.writer import ResultWriter
from runner.prepare import PreparedRun, experiment_name, input_path, prepare_run
from runner.send import send_all

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class RunResult:
    """What a finished run left behind."""

    folder: RunFolder
    summary: Summary
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code

    def dataframe(self) -> pd.DataFrame:
        """Every result of the run, one row per prompt."""
        return read_results(self.folder.completed)


def default_run_dir(settings: RunConfig) -> Path:
    """The folder the command line would use: a new one, or the one being resumed."""
    outputs, name = Path(settings.outputs_dir), experiment_name(settings)
    if settings.resume:
        return find_run(outputs, name, settings.resume)
    return outputs / name / (settings.run_id or new_run_id())


def _new_meta(prepared: PreparedRun, folder: RunFolder, started: str) -> dict[str, Any]:
    return {
        "run_id": folder.run_id,
        "experiment": prepared.experiment,
        "input_file": str(prepared.input_file),
        "models": [
            {"api": api, "model_name": name or None}
            for api, name in sorted(prepared.plan.model_counts)
        ],
        "started_at": started,
        "finished_at": None,
        "status": "running",
    }


def execute_run(
    settings: RunConfig,
    run_dir: Path,
    *,
    overrides: Sequence[str] = (),
    config: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    conf_dir: Path | None = None,
) -> RunResult:
    """Run an experiment into ``run_dir`` (or continue it, with ``settings.resume``).

    Args:
        settings: the checked settings.
        run_dir: the run folder (made if missing; the resumed run's folder on resume).
        overrides: the command-line overrides, recorded in ``run.json``.
        config: the resolved config (secrets redacted), recorded in ``run.json``.
        clock: time source; the system clock by default.
        env: environment variables for keys and endpoints; ``os.environ`` by default.
        conf_dir: the config folder (judge models of evaluation steps are found there).

    Raises:
        BadInputError: nothing was sent because the input is wrong.
    """
    clock = clock or SystemClock()
    folder = RunFolder(run_dir)
    done: bytearray | None = None
    previous: dict[str, Any] = {}
    if settings.resume:
        if not folder.meta.exists():
            find_run(Path(settings.outputs_dir), experiment_name(settings), settings.resume)
            raise BadInputError(f"resume={settings.resume}: {run_dir} is not a run folder")
        check_same_input(folder, input_path(settings))
        previous = json.loads(folder.meta.read_text(encoding="utf-8"))
        if previous.get("experiment") not in (None, experiment_name(settings)):
            raise BadInputError(
                f"resume={settings.resume}: that run is of experiment "
                f"'{previous.get('experiment')}', not '{experiment_name(settings)}'"
            )
        done = repair_and_collect(folder)
    prepared = prepare_run(settings, os.environ if env is None else env, done, run_dir, conf_dir)
    try:
        return _execute(prepared, settings, folder, clock, overrides, config, previous)
    finally:
        prepared.plan.close()


def _execute(
    prepared: PreparedRun,
    settings: RunConfig,
    folder: RunFolder,
    clock: Clock,
    overrides: Sequence[str],
    config: Mapping[str, Any] | None,
    previous: dict[str, Any],
) -> RunResult:
    plan = prepared.plan
    if not previous:
        folder.create(prepared.input_file)
    log_sink = logs.add_run_log(folder.log)
    started_wall, started = clock.wall(), clock.monotonic()
    meta = dict(previous) or _new_meta(prepared, folder, started_wall.isoformat())
    meta.update(config=dict(config or {}), overrides=list(overrides), version=__version__)
    if previous:
        meta.setdefault("resumes", []).append(
            {"at": started_wall.isoformat(), "overrides": list(overrides)}
        )
    meta.update(status="running", finished_at=None)
    folder.write_meta(meta)
    groups = plan.groups.values()
    logger.info(
        "Run {}: {} prompts from {}{} in {} group(s): {}",
        folder.run_id,
        plan.total,
        plan.input_file,
        f" ({plan.skipped} already done)" if plan.skipped else "",
        len(plan.groups),
        ", ".join(f"{g.name} ({g.count} at {g.rate_per_minute:g}/min)" for g in groups),
    )
    status = "failed"
    stats: dict[str, GroupStats] = {}
    timeline = Timeline()
    try:
        with ResultWriter(folder.completed) as writer:
            stats, interrupted = asyncio.run(
                send_all(prepared, settings, clock, writer, folder.run_id, timeline)
            )
        status = "interrupted" if interrupted else "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        summary = Summary(
            run_id=folder.run_id,
            experiment=prepared.experiment,
            total=plan.total,
            ok=plan.skipped + sum(s.ok for s in stats.values()),
            error=sum(s.error for s in stats.values()),
            not_sent=sum(s.not_sent for s in stats.values()),
            wall_time_s=clock.monotonic() - started,
            groups=stats,
            skipped=plan.skipped,
            interrupted=status == "interrupted",
        )
        meta.update(summary.as_dict(), status=status, finished_at=clock.wall().isoformat())
        folder.write_meta(meta)
        _write_timeline(timeline, folder)
        logger.debug("Summary\n{}", summary.format())
        if status == "interrupted":
            logger.warning("Stopped. Resume with: {}", resume_command(settings, folder))
        logs.remove_sink(log_sink)
    if settings.csv:
        export_csv(folder.completed, folder.csv)
    scores: dict[str, tuple[float, int]] = {}
    if prepared.evaluation is not None:
        prepared.evaluation.close()
        scores = mean_scores(folder.path / "evaluations.jsonl")
    if settings.index:
        _update_index(Path(settings.outputs_dir), folder.path if prepared.evaluation else None)
    report = write_run_report(folder)
    return RunResult(folder, summary, {"scores": scores, "report": report})


def _write_timeline(timeline: Timeline, folder: RunFolder) -> None:
    try:
        timeline.write(folder.path)
    except OSError as exc:  # the results are safe; only the report's health charts suffer
        logger.warning("The run's timeline was not written: {}", exc)


def write_run_report(folder: RunFolder) -> Path | None:
    """Write the run's ``report.html``; a report that fails never fails the run."""
    from runner.report import report_run

    try:
        return report_run(folder.path)
    except Exception as exc:  # the results are written; the report can be made again
        logger.warning(
            "The report was not written: {} (try: python -m runner.report run={} experiment={})",
            exc,
            folder.run_id,
            folder.path.parent.name,
        )
        return None


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


def resume_command(settings: RunConfig, folder: RunFolder) -> str:
    """The command that continues this run."""
    return f"python -m runner experiment={experiment_name(settings)} resume={folder.run_id}"


def _update_index(outputs_dir: Path, evaluated: Path | None = None) -> None:
    """Bring the DuckDB index up to date; a busy or broken index never fails a run."""
    from runner.index import update_index

    try:
        update_index(outputs_dir)
        if evaluated is not None:
            from runner.evaluation import index_evaluations

            index_evaluations(outputs_dir, [evaluated])
    except RunnerError as exc:
        logger.warning("The results index was not updated: {} (run python -m runner.index)", exc)


__all__ = [
    "EXIT_INTERRUPTED",
    "PreparedRun",
    "RunResult",
    "default_run_dir",
    "execute_run",
    "experiment_name",
    "prepare_run",
]
