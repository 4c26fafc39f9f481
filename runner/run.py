"""One run, end to end: read, check, send, write, summarise, index.

Everything here takes typed settings; the command line and the Python API both call
:func:`execute_run`.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pandas as pd
from loguru import logger

from runner import __version__, logs
from runner.config.schema import RunConfig
from runner.config.settings import resolve_path
from runner.config.setup import new_run_id
from runner.engine.clock import Clock, SystemClock
from runner.engine.engine import Engine, EngineSettings
from runner.engine.retry import Backoff
from runner.engine.stats import GroupStats
from runner.errors import BadInputError, RunnerError
from runner.output.export import read_results, write_csv
from runner.output.progress import GroupProgress, progress_enabled
from runner.output.results import Outcome, result_line
from runner.output.run_folder import RunFolder
from runner.output.summary import Summary
from runner.output.writer import ResultWriter
from runner.prompts.grouping import Group, apply_model, group_records
from runner.prompts.reader import read_records
from runner.prompts.records import PromptRecord, record_problems
from runner.providers import Provider, ProviderContext, known_apis, provider_class


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

    input_file: Path
    experiment: str
    records: list[PromptRecord]
    groups: dict[str, Group]
    providers: dict[str, Provider]
    context: ProviderContext


def experiment_name(settings: RunConfig) -> str:
    """The experiment's name: set in its YAML, else the file name without its extension."""
    return settings.experiment.name or Path(settings.experiment.file).stem


def default_run_dir(settings: RunConfig) -> Path:
    """``<outputs_dir>/<experiment>/<run_id>``, the folder the command line would use."""
    run_id = settings.run_id or new_run_id()
    return Path(settings.outputs_dir) / experiment_name(settings) / run_id


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


def prepare_run(settings: RunConfig, env: Mapping[str, str]) -> PreparedRun:
    """Read and check an experiment; nothing is sent.

    Raises:
        BadInputError: the file is unreadable, or some records cannot be sent (all listed).
    """
    input_file = resolve_path(Path(settings.experiments_dir), settings.experiment.file)
    records = read_records(input_file)
    if settings.model is not None:
        m = settings.model
        changed = apply_model(records, m.api, m.model_name, dict(m.parameters))
        if changed:
            logger.info(
                "model={}: {} prompt(s) named another api/model_name and now use {}/{}",
                m.model_name,
                changed,
                m.api,
                m.model_name,
            )
    context = ProviderContext(settings, env=env)
    apis = known_apis()
    providers: dict[str, Provider] = {}
    problems: list[str] = []
    for record in records:
        found = record_problems(record, apis)
        if not found and record.api not in providers:
            providers[record.api] = provider_class(record.api)(context)
        if not found:
            found = [f"{record.where}: {p}" for p in providers[record.api].problems(record)]
        problems.extend(found)
    if problems:
        raise BadInputError(
            f"{input_file}: {len(problems)} problem(s) found; nothing was sent. Fix these:",
            problems,
        )
    max_queries, limits = _limits(settings)
    groups = group_records(
        records, max_queries=max_queries, parallel=settings.parallel, max_queries_dict=limits
    )
    return PreparedRun(input_file, experiment_name(settings), records, groups, providers, context)


async def _send_all(
    prepared: PreparedRun,
    settings: RunConfig,
    clock: Clock,
    writer: ResultWriter,
    run_id: str,
) -> dict[str, Any]:
    engine_settings = EngineSettings(settings.max_attempts, settings.max_concurrency)
    backoff = Backoff(settings.backoff_base_s, settings.backoff_max_s, random.Random())

    def sink(outcome: Outcome) -> None:
        writer.write(result_line(outcome, run_id=run_id, experiment=prepared.experiment))

    needs_http = any(p.uses_http for p in prepared.providers.values())
    # One session for the whole run; groups cap their own concurrency.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0) if needs_http else None
    session = aiohttp.ClientSession(connector=connector) if needs_http else None
    prepared.context.session = session
    initial = [GroupStats(n, g.rate_per_minute, len(g.records)) for n, g in prepared.groups.items()]
    try:
        with GroupProgress(initial, progress_enabled(settings.progress)) as progress:
            engine = Engine(
                prepared.providers, engine_settings, clock, backoff, sink, progress.update
            )
            return dict(await engine.run(prepared.groups))
    finally:
        for provider in prepared.providers.values():
            await provider.aclose()
        if session is not None:
            await session.close()


def execute_run(
    settings: RunConfig,
    run_dir: Path,
    *,
    overrides: Sequence[str] = (),
    config: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run an experiment into ``run_dir``.

    Args:
        settings: the checked settings.
        run_dir: the run folder (made if missing).
        overrides: the command-line overrides, recorded in ``run.json``.
        config: the resolved config (secrets redacted), recorded in ``run.json``.
        clock: time source; the system clock by default.
        env: environment variables for keys and endpoints; ``os.environ`` by default.

    Raises:
        BadInputError: nothing was sent because the input is wrong.
    """
    clock = clock or SystemClock()
    prepared = prepare_run(settings, os.environ if env is None else env)
    folder = RunFolder(run_dir)
    folder.create(prepared.input_file)
    log_sink = logs.add_run_log(folder.log)
    started_wall, started = clock.wall(), clock.monotonic()
    meta: dict[str, Any] = {
        "run_id": folder.run_id,
        "experiment": prepared.experiment,
        "input_file": str(prepared.input_file),
        "models": [
            {"api": api, "model_name": name or None}
            for api, name in sorted({(r.api, r.model_name or "") for r in prepared.records})
        ],
        "started_at": started_wall.isoformat(),
        "finished_at": None,
        "status": "running",
        "config": dict(config or {}),
        "overrides": list(overrides),
        "version": __version__,
    }
    folder.write_meta(meta)
    logger.info(
        "Run {}: {} prompts from {} in {} group(s): {}",
        folder.run_id,
        len(prepared.records),
        prepared.input_file,
        len(prepared.groups),
        ", ".join(
            f"{g.name} ({len(g.records)} at {g.rate_per_minute:g}/min)"
            for g in prepared.groups.values()
        ),
    )
    status = "failed"
    stats: dict[str, Any] = {}
    try:
        with ResultWriter(folder.completed) as writer:
            stats = asyncio.run(_send_all(prepared, settings, clock, writer, folder.run_id))
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        summary = Summary(
            run_id=folder.run_id,
            experiment=prepared.experiment,
            total=len(prepared.records),
            ok=sum(s.ok for s in stats.values()),
            error=sum(s.error for s in stats.values()),
            not_sent=sum(s.not_sent for s in stats.values()),
            wall_time_s=clock.monotonic() - started,
            groups=stats,
        )
        meta.update(summary.as_dict(), status=status, finished_at=clock.wall().isoformat())
        folder.write_meta(meta)
        logger.debug("Summary\n{}", summary.format())
        logs.remove_sink(log_sink)
    if settings.csv:
        write_csv(read_results(folder.completed), folder.csv)
    if settings.index:
        _update_index(Path(settings.outputs_dir))
    return RunResult(folder, summary)


def _update_index(outputs_dir: Path) -> None:
    """Bring the DuckDB index up to date; a busy or broken index never fails a run."""
    try:
        from runner.index import update_index
    except ImportError:  # pragma: no cover - the index ships with runner
        return
    try:
        update_index(outputs_dir)
    except RunnerError as exc:
        logger.warning("The results index was not updated: {} (run python -m runner.index)", exc)
