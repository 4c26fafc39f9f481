"""Sending: the run's engine session, progress, graceful stop, judges alongside."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from runner.batch.registry import batch_mode
from runner.config.schema import RunConfig
from runner.cost.spending import Spending
from runner.engine.engine import Engine
from runner.engine.session import engine_session
from runner.engine.stopping import GracefulStop
from runner.engine.timeline import Timeline, TimelineObserver
from runner.limits.adaptive import AdaptiveGate
from runner.limits.clock import Clock
from runner.limits.from_settings import accounting_of
from runner.limits.group_limits import GroupLimits, Limits, group_identity, open_store
from runner.output.observer import Observer
from runner.output.progress import GroupProgress, progress_enabled
from runner.output.results import Outcome, result_line
from runner.output.stats import GroupStats
from runner.output.writer import ResultWriter
from runner.prepare import PreparedRun
from runner.prompts.grouping import Group
from runner.prompts.plan import GroupPlan

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
    sending = Sending(prepared, settings, clock, writer, run_id, spending)
    return await sending.run(timeline)


class Sending:
    """One run's sending: its engine, the file its results go to, what watches it."""

    def __init__(
        self,
        prepared: PreparedRun,
        settings: RunConfig,
        clock: Clock,
        writer: ResultWriter,
        run_id: str,
        spending: Spending | None = None,
    ) -> None:
        self.prepared = prepared
        self.settings = settings
        self.clock = clock
        self.writer = writer
        self.run_id = run_id
        self.spending = spending or Spending.for_run(settings)
        self.engine: Engine | None = None  # the live engine, once its session is open
        self.stopper: GracefulStop | None = None

    async def run(self, timeline: Timeline | None) -> tuple[dict[str, GroupStats], bool]:
        """Send everything; the counters, and whether a stop cut the run."""
        self.spending.prices.warm(self.prepared.plan.model_counts)
        store = open_store(self.settings)
        limits = GroupLimits(
            store,
            self.clock,
            key_limits={api: float(v) for api, v in self.settings.key_max_queries.items()},
            credential=self.prepared.provider_set.credential,
        )
        groups = self._groups()
        initial = [GroupStats(n, g.rate_per_minute, g.total) for n, g in groups.items()]
        progress = GroupProgress(
            initial,
            progress_enabled(self.settings.progress),
            paused=self.paused,
            current=self.current,
        )
        observers: list[Observer] = [self.spending.tally]
        if timeline is not None:
            observers.append(TimelineObserver(timeline, self.clock))
        try:
            with progress:
                stats = await self._send(groups, limits.as_limits(), progress, observers)
        finally:
            if store is not None:
                store.close()
            self.spending.prices.report_unpriced()
        return stats, self.stopped()

    def sink(self, outcome: Outcome) -> None:
        """Write one result as soon as it is known; scorers and judges see it next."""
        line = result_line(outcome, run_id=self.run_id, experiment=self.prepared.experiment)
        self.writer.write(line)
        if self.prepared.evaluation is not None:
            self.prepared.evaluation.on_result(line)  # scorers now; judge prompts queued

    def stopped(self) -> bool:
        """Whether a stop (Ctrl-C, a signal) cut the sending short."""
        return self.stopper is not None and self.stopper.stopped

    # The progress bars read the engine's live state (pauses, retries) at every redraw.
    def paused(self, group: str) -> bool:
        """Whether ``group`` waits out a ``Retry-After`` now."""
        return self.engine is not None and _paused(self.engine.gates.get(group), self.clock)

    def current(self, group: str) -> GroupStats | None:
        """The live counters of ``group`` (None before the engine starts)."""
        return None if self.engine is None else self.engine.stats.get(group)

    def _groups(self) -> dict[str, Group]:
        providers = self.prepared.provider_set
        return self.prepared.plan.engine_groups(
            _identity,
            providers.max_concurrency,
            accounting_of(self.settings, providers.token_accounting()),
        )

    async def _send(
        self,
        groups: dict[str, Group],
        limits: Limits,
        progress: GroupProgress,
        observers: list[Observer],
    ) -> dict[str, GroupStats]:
        """The engine's session, open while the groups (and any batches, judges) run."""
        prepared, settings = self.prepared, self.settings
        async with engine_session(
            prepared.context,
            self.sink,
            providers=prepared.providers,
            close_providers=True,
            clock=self.clock,
            limits=limits,
            on_change=progress.update,
            observers=observers,
            budget=self.spending.budget,
            prices=self.spending.prices,
            # Refused keys are known by the run's own fingerprints: one per (api, model).
            credential=prepared.provider_set.credential,
        ) as engine:
            self.engine = engine
            batches = await _start_batches(
                engine, prepared, settings, self.clock, self.writer, self.run_id
            )
            self.stopper = GracefulStop(
                engine.request_stop, settings.stop_timeout_s, self.writer.close
            )
            run_task: asyncio.Task[dict[str, GroupStats]] = asyncio.create_task(engine.run(groups))
            self.stopper.install(run_task)
            try:
                return await self._generation(run_task)
            except asyncio.CancelledError:
                if not self.stopper.stopped:
                    raise
                return engine.stats  # cut short after a stop: the counters so far
            finally:
                self.stopper.uninstall()
                if batches is not None:
                    await batches.close()

    async def _generation(
        self, run_task: asyncio.Task[dict[str, GroupStats]]
    ) -> dict[str, GroupStats]:
        """Generation's counters when it ends; judges (if any) judge its results meanwhile."""
        evaluation = self.prepared.evaluation
        if evaluation is None or not evaluation.has_judges:
            return await run_task
        from runner.evaluation.live import judge_alongside

        # Judges have their own groups and limits: generation's are untouched.
        return await judge_alongside(
            evaluation,
            run_task,
            self.prepared.context,
            self.prepared.providers,
            self.clock,
            stopped=self.stopped,
            spending=self.spending,
        )


def _identity(group: GroupPlan) -> str:
    """A group's identity between processes (its name and the credentials it sends with)."""
    return group_identity(group.name, group.credentials)


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
