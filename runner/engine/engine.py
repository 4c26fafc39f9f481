"""The engine: every group runs concurrently, paced by its own limiters.

Each group runs as a :class:`runner.engine.group_run.GroupRun`, handed what the groups
share (:class:`runner.engine.shared.Shared`): the providers, the settings, the clock, the
backoff, the limits (one :class:`Limits` object), the keys the APIs refused, the
transports (online; a batch run :meth:`Engine.mount` s before it) and the observers told
of every send and every outcome (progress displays, timelines).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from loguru import logger

from runner.cost.budget import Budget
from runner.cost.prices import PriceBook
from runner.engine.cache_step import CacheStep
from runner.engine.group_run import GroupRun
from runner.engine.online import OnlineTransport
from runner.engine.rejections import Rejections
from runner.engine.retry import Backoff
from runner.engine.shared import EngineSettings, Shared
from runner.engine.transport import Transport
from runner.errors import RunnerError
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
    from runner.cache.cache import ResponseCache

__all__ = ["Engine", "EngineSettings", "OutcomeSink", "in_flight_limit"]

OutcomeSink = Callable[[Outcome], None]


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
        credential: a record's key fingerprint (refused keys are known by it); by default
            its provider's ``credential``, a run passes its ProviderSet's memoized one.
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
        credential: Callable[[PromptRecord], str] | None = None,
    ) -> None:
        self.providers = providers
        self.settings = settings
        self.limits = limits or Limits()
        if self.limits.estimator is None:
            self.limits.estimator = lambda r: self.providers[r.api].estimate_tokens(r)
        self.budget = budget or Budget()
        self.prices = prices or PriceBook()
        self.stop_requested = asyncio.Event()
        self.gates: dict[str, AdaptiveGate] = {}
        # Live counters: complete even when a run is cut short.
        self.stats: dict[str, GroupStats] = {}
        # An error that must end the run (a result that could not be written, a limiter
        # that broke): sending stops, and run() raises it once in-flight requests are done.
        self.fatal: BaseException | None = None
        # The groups running now (a stop wakes each).
        self._running: set[GroupRun] = set()
        # Requests in flight across all groups: each holds a connection (a descriptor).
        self.in_flight = asyncio.Semaphore(int(in_flight_limit(settings.max_in_flight).amount))
        observing = list(observers)
        # What each group is handed: it reports back through sink, on_change and fail.
        self.shared = Shared(
            providers=providers,
            settings=settings,
            clock=clock,
            backoff=backoff,
            limits=self.limits,
            cache=CacheStep(cache, providers),
            budget=self.budget,
            prices=self.prices,
            # Keys (401) and models (403) the APIs refused: their prompts are not sent.
            rejections=Rejections(credential or (lambda r: self.providers[r.api].credential(r))),
            transports=[OnlineTransport(providers, clock, observing, self.in_flight)],
            observers=observing,
            stop=self.stop_requested,
            sink=sink,
            on_change=on_change or (lambda _stats: None),
            fail=self.fail,
        )

    def mount(self, transport: Transport, *, read_ahead: int = 0) -> None:
        """Send the prompts ``transport`` takes through it, before online (batch mode).

        ``read_ahead``: how many prompts a group may hold unanswered at least (a batch's
        prompts answer together). Call before :meth:`run`.
        """
        self.shared.transports.insert(0, transport)
        self.settings.read_ahead = max(self.settings.read_ahead, read_ahead)

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
                await self._run_group(GroupRun(self.shared, group, stats[name]), keep=few)

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
        for observer in self.shared.observers:
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
