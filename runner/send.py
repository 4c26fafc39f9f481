"""Sending: the run's engine session, progress, graceful stop, judges alongside."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from runner.batch.registry import batch_mode
from runner.config.schema import RunConfig
from runner.cost.spending import Spending
from runner.engine.engine import Engine
from runner.engine.limits import GroupLimits, accounting_of, group_identity, open_store
from runner.engine.session import engine_session
from runner.engine.stopping import GracefulStop
from runner.engine.timeline import Timeline, TimelineObserver
from runner.limits.adaptive import AdaptiveGate
from runner.limits.clock import Clock
from runner.output.observer import Observer
from runner.output.progress import GroupProgress, progress_enabled
from runner.output.results import Outcome, result_line
from runner.output.stats import GroupStats
from runner.output.writer import ResultWriter
from runner.prepare import PreparedRun

if TYPE_CHECKING:
    from runner.batch.run import BatchRun


async def send_all(
    prepared: PreparedRun,
    settings: RunConfig,
    clock: Clock,
    writer: ResultWriter,
    run_id: str,
    timeline: Timeline | None = None,
    spending: Spending | None = None,
) -> tuple[dict[str, GroupStats], bool]:
    """Send every planned prompt; returns the counters and whether a stop cut the run.

    ``timeline``, when given, records how each group went over time (for the report);
    ``spending`` prices, caps and counts what generation and the judges spend. With
    ``mode=batch`` the prompts go through the providers' batch APIs (runner.batch);
    the batch manifest sits beside ``completed.jsonl``.
    """
    evaluation = prepared.evaluation
    spending = spending or Spending.for_run(settings)
    spending.prices.warm(prepared.plan.model_counts)

    def sink(outcome: Outcome) -> None:
        line = result_line(outcome, run_id=run_id, experiment=prepared.experiment)
        writer.write(line)
        if evaluation is not None:
            evaluation.on_result(line)  # scorers now; judge prompts queued

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
        accounting_of(settings, {api: p.token_accounting for api, p in prepared.providers.items()}),
    )
    initial = [GroupStats(n, g.rate_per_minute, g.total) for n, g in groups.items()]
    stats: dict[str, GroupStats] = {}
    stopper: GracefulStop | None = None
    # The bars read the engine's live state (pauses, retries) at every redraw.
    live: dict[str, Engine] = {}
    progress = GroupProgress(
        initial,
        progress_enabled(settings.progress),
        paused=lambda name: "e" in live and _paused(live["e"].gates.get(name), clock),
        current=lambda name: live["e"].stats.get(name) if "e" in live else None,
    )
    observers: list[Observer] = [spending.tally]
    if timeline is not None:
        observers.append(TimelineObserver(timeline, clock))
    try:
        with progress:
            async with engine_session(
                prepared.context,
                sink,
                providers=prepared.providers,
                close_providers=True,
                clock=clock,
                limits=limits.as_limits(),
                on_change=progress.update,
                observers=observers,
                budget=spending.budget,
                prices=spending.prices,
            ) as engine:
                live["e"] = engine
                batches = await _start_batches(engine, prepared, settings, clock, writer, run_id)
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
                            spending=spending,
                        )
                    else:
                        stats = await run_task
                except asyncio.CancelledError:
                    if not stopper.stopped:
                        raise
                    stats = engine.stats  # cut short after a stop: the counters so far
                finally:
                    stopper.uninstall()
                    if batches is not None:
                        await batches.close()
    finally:
        if store is not None:
            store.close()
        spending.prices.report_unpriced()
    return stats, stopper is not None and stopper.stopped


def _paused(gate: AdaptiveGate | None, clock: Clock) -> bool:
    """Whether a group waits out a ``Retry-After`` now (shown on its progress bar)."""
    return gate is not None and gate.paused_until > clock.monotonic()


async def _start_batches(
    engine: Engine,
    prepared: PreparedRun,
    settings: RunConfig,
    clock: Clock,
    writer: ResultWriter,
    run_id: str,
) -> BatchRun | None:
    """Batch mode: a batch run on ``engine``, reattached to what a resumed run submitted."""
    if not batch_mode(settings):
        return None
    from runner.batch.run import start_batch_run

    return await start_batch_run(
        engine, prepared.providers, settings, clock, writer.path.parent, run_id, prepared.experiment
    )
