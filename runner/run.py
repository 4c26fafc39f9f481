"""One run, end to end: read, check, send, write, summarise, index.

Everything here takes typed settings; the command line and the Python API both call
:func:`execute_run`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from loguru import logger

from runner import __version__, logs
from runner.config.schema import RunConfig
from runner.config.settings import resolve_path
from runner.config.setup import new_run_id
from runner.engine.clock import Clock, SystemClock
from runner.engine.engine import Engine, EngineSettings
from runner.engine.limits import GroupLimits, group_identity, open_store
from runner.engine.retry import Backoff
from runner.engine.stats import GroupStats
from runner.engine.stopping import EXIT_INTERRUPTED, GracefulStop
from runner.engine.tokens import estimate_tokens
from runner.errors import BadInputError, RunnerError
from runner.output.export import export_csv, read_results
from runner.output.progress import GroupProgress, progress_enabled
from runner.output.results import Outcome, result_line
from runner.output.resume import check_same_input, find_run, line_done, repair_and_collect
from runner.output.run_folder import RunFolder
from runner.output.summary import Summary
from runner.output.writer import ResultWriter
from runner.prompts.grouping import GroupAssigner
from runner.prompts.plan import Plan, plan_experiment
from runner.prompts.records import PromptRecord, record_problems
from runner.providers import Provider, ProviderContext, known_apis, provider_class

if TYPE_CHECKING:
    import pandas as pd

    from runner.evaluation import EvaluationRun


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


@dataclass
class PreparedRun:
    """A checked experiment, ready to send."""

    experiment: str
    plan: Plan
    providers: dict[str, Provider]
    context: ProviderContext
    evaluation: EvaluationRun | None = None

    @property
    def input_file(self) -> Path:
        return self.plan.input_file

    @property
    def records(self) -> Iterator[PromptRecord]:
        """Every planned record, read lazily from the plan's spool."""
        for name in self.plan.groups:
            yield from self.plan.records(name)


def experiment_name(settings: RunConfig) -> str:
    """The experiment's name: set in its YAML, else the file name without its extension."""
    return settings.experiment.name or Path(settings.experiment.file).stem


def input_path(settings: RunConfig) -> Path:
    """The experiment file named by the settings."""
    return resolve_path(Path(settings.experiments_dir), settings.experiment.file)


def default_run_dir(settings: RunConfig) -> Path:
    """The folder the command line would use: a new one, or the one being resumed."""
    outputs, name = Path(settings.outputs_dir), experiment_name(settings)
    if settings.resume:
        return find_run(outputs, name, settings.resume)
    return outputs / name / (settings.run_id or new_run_id())


def _limits(settings: RunConfig) -> tuple[float, dict[str, Any]]:
    """The default limit and the per-group limits, with the chosen model's own limit."""
    limits: dict[str, Any] = dict(settings.max_queries_dict)
    model = settings.model
    if model is None or model.max_queries is None:
        return settings.max_queries, limits
    if not settings.parallel:
        return model.max_queries, limits
    current = limits.get(model.api)
    per_model = dict(current) if isinstance(current, Mapping) else {}
    if current is not None and not isinstance(current, Mapping):
        per_model["default"] = current
    per_model[model.model_name] = model.max_queries
    limits[model.api] = per_model
    return settings.max_queries, limits


def prepare_run(
    settings: RunConfig,
    env: Mapping[str, str],
    done: bytearray | None = None,
    run_dir: Path | None = None,
) -> PreparedRun:
    """Read and check an experiment, and plan its groups; nothing is sent.

    Args:
        settings: the run's settings.
        env: environment variables (keys and endpoints).
        done: a bitmap of input lines already done (resume); they are skipped.
        run_dir: where evaluation results go (when ``settings.evaluation`` has steps).

    Raises:
        BadInputError: the file is unreadable, or some records cannot be sent (all listed).
    """
    context = ProviderContext(settings, env=env)
    apis = known_apis()
    providers: dict[str, Provider] = {}
    evaluation = None
    if settings.evaluation:
        from runner.evaluation import EvaluationRun  # only runs that evaluate pay for it

        evaluation = EvaluationRun.create(settings, run_dir or Path("."), env=env)

    def check(record: PromptRecord) -> list[str]:
        found = record_problems(record, apis)
        if found:
            return found
        if record.api not in providers:
            providers[record.api] = provider_class(record.api)(context)
        found = [f"{record.where}: {p}" for p in providers[record.api].problems(record)]
        if evaluation is not None and not found:
            found = [f"{record.where}: {p}" for p in evaluation.validate([record])]
        return found

    def credential(record: PromptRecord) -> str:
        return providers[record.api].credential(record)

    max_queries, limits = _limits(settings)
    assigner = GroupAssigner(
        max_queries=max_queries,
        parallel=settings.parallel,
        max_queries_dict=limits,
        max_tokens=settings.max_tokens_per_minute,
        max_tokens_dict=settings.max_tokens_per_minute_dict,
    )
    m = settings.model
    plan = plan_experiment(
        input_path(settings),
        assigner,
        check,
        credential,
        model=None if m is None else (m.api, m.model_name, dict(m.parameters)),
        skip_line=(lambda n: line_done(done, n)) if done else (lambda _n: False),
    )
    if plan.problems:
        plan.close()
        raise BadInputError(
            f"{plan.input_file}: {plan.problem_count} problem(s) found; nothing was sent. "
            "Fix these:",
            plan.problems,
            plan.problem_count,
        )
    if plan.total == 0:
        plan.close()
        raise BadInputError(f"{plan.input_file}: the experiment file holds no records")
    if m is not None and plan.model_changed:
        logger.info(
            "model={}: {} prompt(s) named another api/model_name and now use {}/{}",
            m.model_name,
            plan.model_changed,
            m.api,
            m.model_name,
        )
    return PreparedRun(experiment_name(settings), plan, providers, context, evaluation)


async def _send_all(
    prepared: PreparedRun,
    settings: RunConfig,
    clock: Clock,
    writer: ResultWriter,
    run_id: str,
) -> tuple[dict[str, GroupStats], bool]:
    """Send every planned prompt; returns the counters and whether a stop cut the run."""
    engine_settings = EngineSettings(settings.max_attempts, settings.max_concurrency)
    backoff = Backoff(settings.backoff_base_s, settings.backoff_max_s, random.Random())

    evaluation = prepared.evaluation

    def sink(outcome: Outcome) -> None:
        line = result_line(outcome, run_id=run_id, experiment=prepared.experiment)
        writer.write(line)
        if evaluation is not None:
            evaluation.on_result(line)  # scorers now; judge prompts queued

    needs_http = any(p.uses_http for p in prepared.providers.values())
    # One session for the whole run; groups cap their own concurrency.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0) if needs_http else None
    session = aiohttp.ClientSession(connector=connector) if needs_http else None
    prepared.context.session = session
    store = open_store(settings)
    limits = GroupLimits(store, clock)
    groups = prepared.plan.engine_groups(
        lambda g: group_identity(g.name, g.credentials),
        lambda api: prepared.providers[api].max_concurrency,
    )
    initial = [GroupStats(n, g.rate_per_minute, g.total) for n, g in groups.items()]
    engine = Engine(
        prepared.providers,
        engine_settings,
        clock,
        backoff,
        sink,
        limiters=limits.requests,
        token_limiters=limits.tokens,
        estimate_tokens=lambda r: estimate_tokens(r, settings.output_tokens_estimate),
    )
    stopper = GracefulStop(engine.request_stop, settings.stop_timeout_s, writer.close)
    stats: dict[str, GroupStats] = {}
    try:
        with GroupProgress(initial, progress_enabled(settings.progress)) as progress:
            engine._on_change = progress.update
            run_task: asyncio.Task[Any] = asyncio.create_task(engine.run(groups))
            stopper.install(run_task)
            try:
                stats = await run_task
                if evaluation is not None and evaluation.has_judges and not stopper.stopped:
                    # Judges have their own groups and limits: generation's budget is untouched.
                    await evaluation.run_judges(
                        prepared.context, providers=prepared.providers, clock=clock
                    )
            except asyncio.CancelledError:
                if not stopper.stopped:
                    raise
                stats = engine.stats  # cut short after a stop: the counters so far
            finally:
                stopper.uninstall()
    finally:
        for provider in prepared.providers.values():
            await provider.aclose()
        if session is not None:
            await session.close()
        if store is not None:
            store.close()
    return stats, stopper.stopped


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
) -> RunResult:
    """Run an experiment into ``run_dir`` (or continue it, with ``settings.resume``).

    Args:
        settings: the checked settings.
        run_dir: the run folder (made if missing; the resumed run's folder on resume).
        overrides: the command-line overrides, recorded in ``run.json``.
        config: the resolved config (secrets redacted), recorded in ``run.json``.
        clock: time source; the system clock by default.
        env: environment variables for keys and endpoints; ``os.environ`` by default.

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
    prepared = prepare_run(settings, os.environ if env is None else env, done, run_dir)
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
    try:
        with ResultWriter(folder.completed) as writer:
            stats, interrupted = asyncio.run(
                _send_all(prepared, settings, clock, writer, folder.run_id)
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
        logger.debug("Summary\n{}", summary.format())
        if status == "interrupted":
            logger.warning("Stopped. Resume with: {}", resume_command(settings, folder))
        logs.remove_sink(log_sink)
    if settings.csv:
        export_csv(folder.completed, folder.csv)
    if prepared.evaluation is not None:
        prepared.evaluation.close()
    if settings.index:
        _update_index(Path(settings.outputs_dir), folder.path if prepared.evaluation else None)
    return RunResult(folder, summary)


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
