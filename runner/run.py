"""One run, end to end: read, check, send, write, summarise, index.

Everything here takes typed settings; the command line and the Python API both call
:func:`execute_run`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner import __version__, logs
from runner.commands import shell_command
from runner.config.schema import RunConfig
from runner.config.setup import new_run_id
from runner.cost.spending import Spending
from runner.engine.stopping import EXIT_INTERRUPTED, before_forced_exit
from runner.engine.timeline import Timeline
from runner.errors import BadInputError, DiskFullError, RunnerError
from runner.limits.clock import Clock, SystemClock
from runner.limits.shared_limits import never_binds
from runner.output.export import export_csv, read_results
from runner.output.money import dollars
from runner.output.provenance import provenance
from runner.output.results import invalid_lines
from runner.output.resume import (
    check_same_input,
    find_run,
    repair_and_collect,
    resume_command,
)
from runner.output.run_folder import RunFolder
from runner.output.run_lock import RunLock
from runner.output.stats import GroupStats
from runner.output.summary import Summary
from runner.output.writer import ResultWriter
from runner.prepare import PreparedRun, experiment_name, input_path, prepare_run
from runner.run_end import index_beside_report
from runner.send import send_all
from runner.shards import shard_run_name, split_shard_folder

if TYPE_CHECKING:
    import pandas as pd

# Groups whose planned totals run.json keeps for the viewer's live page.
PLANNED_GROUPS = 1_000


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
        return find_run(outputs, name, settings.resume, settings.shard, settings.shards)
    run = settings.run_id or new_run_id()
    return outputs / name / shard_run_name(run, settings.shard, settings.shards)


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
        # What the viewer's live page measures progress against while the run goes.
        "planned": {
            "total": prepared.plan.total,
            "groups": {
                g.name: {"total": g.count, "limit_per_minute": g.rate_per_minute}
                # 100,000 groups would make run.json megabytes: the live page shows the first.
                for g in itertools.islice(prepared.plan.groups.values(), PLANNED_GROUPS)
            },
        },
        **_shard_meta(folder.run_id),
    }


def _shard_meta(run_id: str) -> dict[str, Any]:
    """A shard's place in its run: {"sharded_run": R, "shard": K, "shards": N}, else nothing."""
    split = split_shard_folder(run_id)
    if split is None:
        return {}
    return {"sharded_run": split[0], "shard": split[1], "shards": split[2]}


def execute_run(
    settings: RunConfig,
    run_dir: Path,
    *,
    overrides: Sequence[str] = (),
    config: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    on_start: Callable[[], None] | None = None,
    changed: Mapping[str, Any] | None = None,
    sweep_dir: Path | None = None,
) -> RunResult:
    """Run an experiment into ``run_dir`` (or continue it, with ``settings.resume``).

    Args:
        settings: the checked settings.
        run_dir: the run folder (made if missing; the resumed run's folder on resume).
        overrides: the command-line overrides, recorded in ``run.json``.
        config: the resolved config (secrets redacted), recorded in ``run.json``.
        clock: time source; the system clock by default.
        env: environment variables for keys and endpoints; ``os.environ`` by default.
        on_start: called once the run is accepted (locked, checked), before anything is sent.
        changed: on resume, the settings that differ from the run's own (recorded).
        sweep_dir: the sweep's folder when this run is a job of one: the jobs share
            ``max_cost_usd`` through a ledger there (runner.cost.ledger).

    Raises:
        BadInputError: nothing was sent because the input is wrong, or another process is
            writing the run, or ``run_id`` names a run that exists (resume it instead).
    """
    clock = clock or SystemClock()
    folder = RunFolder(run_dir)
    lock = RunLock(folder.lock_file)
    done: bytearray | None = None
    previous: dict[str, Any] = {}
    if settings.resume:
        if not folder.meta.exists():
            find_run(
                Path(settings.outputs_dir),
                experiment_name(settings),
                settings.resume,
                settings.shard,
                settings.shards,
            )
            raise BadInputError(f"resume={settings.resume}: {run_dir} is not a run folder")
    else:
        _refuse_existing(settings, folder)
    try:
        if settings.resume:
            lock.acquire(folder.run_id)  # before the repair: it rewrites completed.jsonl
            previous = _check_resumable(settings, folder)
            done = repair_and_collect(folder)
        env = os.environ if env is None else env
        prepared = prepare_run(settings, env, done, run_dir)
        prepared.context.run_id = folder.run_id  # the response cache keeps its lookups by run
        try:
            if not settings.resume:
                lock.acquire(folder.run_id)
                _refuse_existing(settings, folder)  # again, now that no one else can start it
            if previous and prepared.plan.skipped == prepared.plan.total:
                return _already_complete(prepared, folder, previous)
            if on_start is not None:
                on_start()
            invocation = _Invocation(overrides, config, changed or {}, settings, sweep_dir)
            return _execute(prepared, settings, folder, clock, invocation, previous)
        finally:
            prepared.plan.close()
    finally:
        lock.release()


def _refuse_existing(settings: RunConfig, folder: RunFolder) -> None:
    """A new run never writes into a run that exists: that is what resume is for."""
    if folder.meta.exists():
        resume = shlex.quote(f"resume={folder.run_id}")
        raise BadInputError(
            f"run_id={folder.run_id}: experiment '{experiment_name(settings)}' already has "
            f"this run ({folder.path}); continue it with {resume}, or pick "
            "another run_id (or none, for a new one)"
        )


def _check_resumable(settings: RunConfig, folder: RunFolder) -> dict[str, Any]:
    """The resumed run's ``run.json``, once its input and experiment are checked."""
    check_same_input(folder, input_path(settings))
    previous = folder.read_meta()
    if previous.get("experiment") not in (None, experiment_name(settings)):
        raise BadInputError(
            f"resume={settings.resume}: that run is of experiment "
            f"'{previous.get('experiment')}', not '{experiment_name(settings)}'"
        )
    return previous


def _already_complete(
    prepared: PreparedRun, folder: RunFolder, previous: dict[str, Any]
) -> RunResult:
    """A resume of a run with every prompt ok: nothing to send, ``run.json`` untouched."""
    plan = prepared.plan
    logger.info(
        "Run {} is already complete: all {} prompt(s) are ok; nothing was sent.",
        folder.run_id,
        plan.total,
    )
    if prepared.evaluation is not None:
        prepared.evaluation.close()
    summary = Summary(
        run_id=folder.run_id,
        experiment=prepared.experiment,
        total=plan.total,
        ok=plan.total,
        error=0,
        not_sent=0,
        wall_time_s=float(previous.get("wall_time_s") or 0.0),
        groups={},
        skipped=plan.skipped,
    )
    return RunResult(folder, summary, {"already_complete": True})


@dataclass
class _Invocation:
    """What this invocation brings to ``run.json``: its overrides, config and changes."""

    overrides: Sequence[str]
    config: Mapping[str, Any] | None
    changed: Mapping[str, Any]
    settings: RunConfig
    sweep_dir: Path | None = None  # a sweep's jobs share max_cost_usd (runner.cost.ledger)

    def record(self, prepared: PreparedRun, at: str) -> dict[str, Any]:
        apis = {api for api, _name in prepared.plan.model_counts}
        if self.settings.model is not None:
            apis.add(self.settings.model.api)
        found = provenance(prepared.input_file, Path(self.settings.experiments_dir), apis)
        return {"at": at, "overrides": list(self.overrides), **found}


def _start_meta(
    prepared: PreparedRun,
    folder: RunFolder,
    invocation: _Invocation,
    previous: dict[str, Any],
    started: str,
) -> dict[str, Any]:
    """``run.json`` at the start: a new run's record, or the resumed one plus this resume."""
    record = invocation.record(prepared, started)
    if not previous:
        meta = _new_meta(prepared, folder, started)
        # The settings the run was started with stay here; a resume adds its own entry.
        meta.update(config=dict(invocation.config or {}), overrides=list(invocation.overrides))
        meta.update({k: v for k, v in record.items() if k not in ("at", "overrides")})
    else:
        meta = dict(previous)
        meta.setdefault("config", dict(invocation.config or {}))
        meta.setdefault("overrides", [])
        record["changed"] = dict(invocation.changed)
        meta.setdefault("resumes", []).append(record)
    meta.update(version=__version__, status="running", finished_at=None)
    return meta


def _execute(
    prepared: PreparedRun,
    settings: RunConfig,
    folder: RunFolder,
    clock: Clock,
    invocation: _Invocation,
    previous: dict[str, Any],
) -> RunResult:
    plan = prepared.plan
    if not previous:
        folder.create(prepared.input_file)
    log_sink = logs.add_run_log(folder.log)
    started_wall, started = clock.wall(), clock.monotonic()
    meta = _start_meta(prepared, folder, invocation, previous, started_wall.isoformat())
    try:
        folder.write_meta(meta)
    except DiskFullError:
        logs.remove_sink(log_sink)
        raise
    command = resume_command(experiment_name(settings), folder.run_id, invocation.overrides)

    def forced_exit() -> None:
        # A second Ctrl-C skips the ending below: record the stop and say how to go on.
        meta.update(status="interrupted", finished_at=clock.wall().isoformat())
        folder.write_meta(meta)
        logger.warning("Stopped. Resume with: {}", command)

    groups = plan.groups.values()
    logger.info(
        "Run {}: {} prompts from {}{} in {} group(s): {}",
        folder.run_id,
        plan.total,
        plan.input_file,
        f" ({plan.skipped} already done)" if plan.skipped else "",
        len(plan.groups),
        _some_groups(list(groups)),
    )
    status = "failed"
    stats: dict[str, GroupStats] = {}
    timeline = Timeline()
    spending = Spending.for_run(settings, invocation.sweep_dir)
    try:
        with ResultWriter(folder.completed) as writer, before_forced_exit(forced_exit):
            for line in invalid_lines(
                plan.invalid, run_id=folder.run_id, experiment=prepared.experiment
            ):
                writer.write(line)
            stats, interrupted = asyncio.run(
                send_all(prepared, settings, clock, writer, folder.run_id, timeline, spending)
            )
        status = "interrupted" if interrupted else "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        summary = Summary(
            run_id=folder.run_id,
            experiment=prepared.experiment,
            total=plan.total + len(plan.invalid),
            ok=plan.skipped + sum(s.ok for s in stats.values()),
            error=len(plan.invalid) + sum(s.error for s in stats.values()),
            invalid=len(plan.invalid),
            not_sent=sum(s.not_sent for s in stats.values()),
            wall_time_s=clock.monotonic() - started,
            groups=stats,
            skipped=plan.skipped,
            interrupted=status == "interrupted",
            cost=spending.as_dict(previous.get("cost")),
        )
        meta.update(summary.as_dict(), status=status, finished_at=clock.wall().isoformat())
        _write_final_meta(folder, meta, failing=status == "failed")
        _write_timeline(timeline, folder, failing=status == "failed")
        logger.debug("Summary\n{}", summary.format())
        if status == "interrupted":
            logger.warning("Stopped. Resume with: {}", command)
        if spending.budget.exhausted:
            _say_budget_reached(spending, command)
        spending.close()
        logs.remove_sink(log_sink)
    if settings.csv:
        export_csv(folder.completed, folder.csv)
    scores: dict[str, tuple[float, int]] = {}
    if prepared.evaluation is not None:
        prepared.evaluation.close()
        scores = mean_scores(folder.path / "evaluations.jsonl")
    evaluated = folder.path if prepared.evaluation else None
    index = (
        (lambda: _update_index(Path(settings.outputs_dir), evaluated)) if settings.index else None
    )
    report = index_beside_report(index, lambda: write_run_report(folder))
    return RunResult(folder, summary, {"scores": scores, "report": report})


def _say_budget_reached(spending: Spending, command: str) -> None:
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


def _write_timeline(timeline: Timeline, folder: RunFolder, *, failing: bool) -> None:
    try:
        timeline.write(folder.path)
    except (OSError, DiskFullError) as exc:  # the results are safe; only the charts suffer
        # A run already failing (a full disk) has told the user what matters: run.log only.
        level = "DEBUG" if failing else "WARNING"
        logger.log(level, "The run's timeline was not written: {}", exc)


def _per_minute(rate: float) -> str:
    return "no limit" if never_binds(rate) else f"{rate:g}/min"


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


def _write_final_meta(folder: RunFolder, meta: dict[str, Any], *, failing: bool) -> None:
    """Write the final ``run.json``; when the run is already failing, that error comes first.

    A full disk that stopped the run usually refuses ``run.json`` too: the old file is kept
    (never an empty one), and the user hears about the results first.
    """
    try:
        folder.write_meta(meta)
    except DiskFullError as exc:
        if not failing:
            raise
        logger.debug("{}", exc)
        logger.warning("{} could not be updated either: it still says 'running'", folder.meta)


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


def _update_index(outputs_dir: Path, evaluated: Path | None = None) -> None:
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


__all__ = [
    "EXIT_INTERRUPTED",
    "PreparedRun",
    "RunResult",
    "default_run_dir",
    "execute_run",
    "experiment_name",
    "prepare_run",
]


def _some_groups(groups: list[Any], shown: int = 20) -> str:
    """The first groups with their sizes and limits, then how many more (100,000 groups)."""
    text = ", ".join(
        f"{g.name} ({g.count} at {_per_minute(g.rate_per_minute)})" for g in groups[:shown]
    )
    return text + (f", and {len(groups) - shown:,} more" if len(groups) > shown else "")
