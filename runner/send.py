"""Sending: one HTTP session, the engine, progress, graceful stop, judges after."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp

from runner.config.schema import RunConfig
from runner.engine.adaptive import AdaptiveGate
from runner.engine.clock import Clock
from runner.engine.engine import Engine, EngineSettings
from runner.engine.limits import GroupLimits, group_identity, open_store
from runner.engine.retry import Backoff
from runner.engine.stats import GroupStats
from runner.engine.stopping import GracefulStop
from runner.engine.timeline import Timeline
from runner.engine.tokens import estimate_tokens
from runner.output.progress import GroupProgress, progress_enabled
from runner.output.results import Outcome, result_line
from runner.output.writer import ResultWriter
from runner.prepare import PreparedRun


async def send_all(
    prepared: PreparedRun,
    settings: RunConfig,
    clock: Clock,
    writer: ResultWriter,
    run_id: str,
    timeline: Timeline | None = None,
) -> tuple[dict[str, GroupStats], bool]:
    """Send every planned prompt; returns the counters and whether a stop cut the run.

    ``timeline``, when given, records how each group went over time (for the report).
    """
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
    limits = GroupLimits(
        store,
        clock,
        key_limits={api: float(v) for api, v in settings.key_max_queries.items()},
        credential=lambda record: prepared.providers[record.api].credential(record),
    )
    groups = prepared.plan.engine_groups(
        lambda g: group_identity(g.name, g.credentials),
        lambda api: prepared.providers[api].max_concurrency,
    )
    initial = [GroupStats(n, g.rate_per_minute, g.total) for n, g in groups.items()]
    stats: dict[str, GroupStats] = {}
    stopper: GracefulStop | None = None
    engine = Engine(
        prepared.providers,
        engine_settings,
        clock,
        backoff,
        sink,
        on_change=lambda group_stats: progress.update(group_stats),
        limiters=limits.requests,
        token_limiters=limits.tokens,
        record_limiters=limits.per_record,
        estimate_tokens=lambda r: estimate_tokens(r, settings.output_tokens_estimate),
        timeline=timeline,
    )
    progress = GroupProgress(
        initial,
        progress_enabled(settings.progress),
        paused=lambda name: _paused(engine.gates.get(name), clock),
        current=lambda name: engine.stats.get(name),
    )
    try:
        with progress:
            stopper = GracefulStop(engine.request_stop, settings.stop_timeout_s, writer.close)
            run_task: asyncio.Task[Any] = asyncio.create_task(engine.run(groups))
            stopper.install(run_task)
            try:
                if evaluation is not None and evaluation.has_judges:
                    from runner.evaluation.live import judge_alongside

                    # Judges have their own groups and limits: generation's are untouched.
                    stats = await judge_alongside(
                        evaluation,
                        run_task,
                        prepared.context,
                        prepared.providers,
                        clock,
                        stopped=lambda: stopper is not None and stopper.stopped,
                    )
                else:
                    stats = await run_task
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
    return stats, stopper is not None and stopper.stopped


def _paused(gate: AdaptiveGate | None, clock: Clock) -> bool:
    """Whether a group waits out a ``Retry-After`` now (shown on its progress bar)."""
    return gate is not None and gate.paused_until > clock.monotonic()
