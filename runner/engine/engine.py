"""The engine: every group runs concurrently, paced by its own limiters.

Each group runs as a :class:`runner.engine.group_run.GroupRun`. The engine holds what the
groups share: the providers, the settings, the clock, the backoff, the limits (one
:class:`Limits` object), the keys the APIs refused, and the observers told of every send
and every outcome (progress displays, timelines).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner.cost.budget import Budget
from runner.cost.prices import PriceBook
from runner.engine.group_run import GroupRun
from runner.engine.rejections import Rejections
from runner.engine.retry import Backoff
from runner.engine.structured import check_output
from runner.errors import ProviderError, RunnerError
from runner.limits.adaptive import AdaptiveGate
from runner.limits.clock import Clock
from runner.limits.from_settings import in_flight_limit
from runner.limits.group_limits import Limits
from runner.output.observer import Observer
from runner.output.results import Outcome
from runner.output.stats import GroupStats
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord
from runner.providers.base import Provider

if TYPE_CHECKING:
    from runner.batch.run import BatchRun
    from runner.cache.cache import ResponseCache

OutcomeSink = Callable[[Outcome], None]


@dataclass
class EngineSettings:
    """The engine's knobs (a slice of the run's settings)."""

    max_attempts: int = 3
    max_concurrency: int = 16
    # Prompts read ahead of sending, per group: bounds memory whatever the input size.
    read_ahead: int = 1000
    # Requests in flight across every group (0: in_flight_limit(), from the fd limit).
    max_in_flight: int = 0


# Groups running at once: more wait for one to end (100,000 groups each with its tasks,
# queue and gate at once took 4.4 GB). Far above what one process sends to in parallel.
ACTIVE_GROUPS = 4096


class Engine:
    """Runs groups of prompts against providers and hands every outcome to ``sink``.

    Args:
        providers: the provider of each api the prompts use.
        settings: attempts, concurrency, read-ahead.
        clock: time source (a fake one in tests).
        backoff: waits between attempts.
        sink: receives every outcome as soon as it is known (written to disk at once).
        on_change: called after a group's counters changed (for progress displays).
        limits: the limits beyond each group's own pace.
        observers: told of every send and every outcome.
        cache: the response cache, asked first on the request path (None: no cache).
        budget: the spending cap shared with other engines of the run (unlimited by default).
        prices: what each outcome cost (``cost_usd``); genai-prices' data by default.
    """

    def __init__(
        self,
        providers: Mapping[str, Provider],
        settings: EngineSettings,
        clock: Clock,
        backoff: Backoff,
        sink: OutcomeSink,
        on_change: Callable[[GroupStats], None] | None = None,
        limits: Limits | None = None,
        observers: Sequence[Observer] = (),
        cache: ResponseCache | None = None,
        budget: Budget | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        self.providers = providers
        self.cache = cache
        self.settings = settings
        self.clock = clock
        self.backoff = backoff
        self._sink = sink
        self.on_change = on_change or (lambda _stats: None)
        self.limits = limits or Limits()
        if self.limits.estimator is None:
            self.limits.estimator = lambda r: self.providers[r.api].estimate_tokens(r)
        self.observers = list(observers)
        self.budget = budget or Budget()
        self.prices = prices or PriceBook()
        self.stop_requested = asyncio.Event()
        self.gates: dict[str, AdaptiveGate] = {}
        # Live counters: complete even when a run is cut short.
        self.stats: dict[str, GroupStats] = {}
        # An error that must end the run (a result that could not be written, a limiter
        # that broke): sending stops, and run() raises it once in-flight requests are done.
        self.fatal: BaseException | None = None
        # Keys (401) and models (403) the APIs refused: their prompts are not sent.
        self.rejections = Rejections(lambda r: self.providers[r.api].credential(r))
        # Batch mode (mode=batch): prompts go to provider batches instead of one by one.
        self.batches: BatchRun | None = None
        # The groups running now (a stop wakes each).
        self._running: set[GroupRun] = set()
        # Requests in flight across all groups: each holds a connection (a descriptor).
        self.in_flight = asyncio.Semaphore(int(in_flight_limit(settings.max_in_flight).amount))

    def request_stop(self) -> None:
        """Stop sending: queued prompts stay unsent, requests in flight finish."""
        self.stop_requested.set()
        self.budget.wake()  # requests waiting for room give up
        for group_run in self._running:
            group_run.wake.set()

    async def run(self, groups: Mapping[str, Group]) -> dict[str, GroupStats]:
        """Run all groups to the end (or to a stop); returns each group's counters."""
        stats = {
            name: GroupStats(name, g.rate_per_minute, total=g.total) for name, g in groups.items()
        }
        self.stats = stats
        pending = iter(groups.items())
        few = len(groups) <= ACTIVE_GROUPS

        async def lane() -> None:
            # Groups start as earlier ones end, at most ACTIVE_GROUPS at once: a group's
            # state (tasks, queue, gate) exists only while it runs.
            for name, group in pending:
                if self.stop_requested.is_set():
                    return  # not started: its prompts stay unsent, as queued ones do
                await self._run_group(GroupRun(self, group, stats[name]), keep=few)

        await asyncio.gather(*(lane() for _ in range(min(ACTIVE_GROUPS, len(groups)))))
        if isinstance(self.fatal, RunnerError):
            raise self.fatal  # already says what to do (a full disk, ...)
        if self.fatal is not None:
            raise RunnerError(f"the run stopped: {self.fatal}") from self.fatal
        return stats

    async def _run_group(self, group_run: GroupRun, *, keep: bool) -> None:
        """Run one group; ``keep``: its gate stays readable after (not for 100,000 groups)."""
        name = group_run.group.name
        self.gates[name] = group_run.gate
        for observer in self.observers:
            observer.on_start(group_run.group)
        self._running.add(group_run)
        try:
            await group_run.run()
        finally:
            self._running.discard(group_run)
            if not keep:
                self.gates.pop(name, None)  # shown paused only while it runs

    def fail(self, exc: BaseException, doing: str) -> None:
        """Stop the run after an error no prompt can be blamed for."""
        if isinstance(exc, RunnerError):  # expected (a full disk): one line, traceback in run.log
            logger.opt(exception=exc).debug("Stopping the run: {} failed", doing)
        else:
            logger.opt(exception=exc).error("Stopping the run: {} failed: {}", doing, exc)
        if self.fatal is None:
            self.fatal = exc
        self.request_stop()

    def deliver(self, outcome: Outcome) -> None:
        """Price a final outcome, hand it to the sink and the observers."""
        if not outcome.priced:  # not priced on the way (a cache hit, a refusal, ...)
            outcome.cost_usd, outcome.priced = self.prices.outcome_cost(outcome), True
        try:
            self._sink(outcome)
        except Exception as exc:  # e.g. the disk is full: sending more would lose results
            self.fail(exc, "writing a result")
        for observer in self.observers:
            observer.on_outcome(outcome)

    async def attempt(
        self, record: PromptRecord, tag: Any, attempts: int, stats: GroupStats
    ) -> Outcome:
        """Send one attempt of ``record`` (its ``attempts``-th) and say how it went.

        It waits first for a slot among the requests in flight of all groups.
        """
        async with self.in_flight:
            return await self._attempt(record, tag, attempts, stats)

    async def _attempt(
        self, record: PromptRecord, tag: Any, attempts: int, stats: GroupStats
    ) -> Outcome:
        provider = self.providers[record.api]
        stats.requests += 1
        started = self.clock.monotonic()
        if stats.first_sent is None:
            stats.first_sent = started
        stats.last_sent = started
        outcome = Outcome(record, stats.name, attempts, sent_at=self.clock.wall(), tag=tag)
        for observer in self.observers:
            observer.on_send(record, stats.name)
        stats.sending += 1
        try:
            outcome.completion = await provider.complete(record)
        except ProviderError as exc:
            outcome.error = exc
            outcome.error_kind = exc.kind.value
        except Exception as exc:  # a bug in a provider must not end the run
            logger.opt(exception=exc).error("{}: unexpected error in provider", record.where)
            outcome.error = ProviderError(f"internal error: {type(exc).__name__}: {exc}")
            outcome.error_kind = "internal"
        finally:
            stats.sending -= 1
        outcome.received_at = self.clock.wall()
        outcome.latency_s = self.clock.monotonic() - started
        check_output(outcome)  # output_schema: an invalid answer is an error (not cached)
        for observer in self.observers:
            observer.on_attempt(outcome)
        return outcome

    def slowed(self, group: str, gate: AdaptiveGate) -> None:
        """Tell the observers a group's gate slowed down or paused."""
        for observer in self.observers:
            observer.on_slowdown(group, gate)
