"""What every group of one engine shares, handed down to each group when it starts.

A group reads its settings, clock, limits, cache, budget and transports here and reports
back through ``deliver``, ``on_change`` and ``fail``: it never reaches up into the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from runner.cost.budget import Budget
from runner.cost.prices import PriceBook
from runner.engine.cache_step import CacheStep
from runner.engine.rejections import Rejections
from runner.engine.retry import Backoff
from runner.engine.transport import Transport, WorkItem
from runner.limits.clock import Clock
from runner.limits.group_limits import Limits
from runner.output.observer import Observer, hooks
from runner.output.results import Outcome
from runner.output.stats import GroupStats
from runner.providers.base import Provider


@dataclass
class EngineSettings:
    """The engine's knobs (a slice of the run's settings)."""

    max_attempts: int = 3
    max_concurrency: int = 16
    # Prompts read ahead of sending, per group: bounds memory whatever the input size.
    read_ahead: int = 1000
    # Requests in flight across every group (0: in_flight_limit(), from the fd limit).
    max_in_flight: int = 0


@dataclass(eq=False)
class Shared:
    """The engine's parts a group uses (see the module docstring).

    ``transports`` are asked in order which one sends a prompt: a batch run mounted first,
    online last (it takes every prompt).
    """

    providers: Mapping[str, Provider]
    settings: EngineSettings
    clock: Clock
    backoff: Backoff
    limits: Limits
    cache: CacheStep
    budget: Budget
    prices: PriceBook
    rejections: Rejections
    transports: list[Transport]
    observers: Sequence[Observer]
    stop: asyncio.Event
    sink: Callable[[Outcome], None]
    on_change: Callable[[GroupStats], None]
    fail: Callable[[BaseException, str], None]
    # The observers' own on_outcome hooks (Observer's no-op left out), called per prompt.
    _on_outcome: list[Callable[[Outcome], None]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._on_outcome = hooks(self.observers, "on_outcome")

    def transport_for(self, item: WorkItem) -> Transport:
        """The first transport that takes ``item`` (online takes every one)."""
        for transport in self.transports:
            if transport.takes(item):
                return transport
        raise AssertionError("no transport takes the item: online must be the last")

    def deliver(self, outcome: Outcome) -> None:
        """Price a final outcome, hand it to the sink and the observers."""
        if not outcome.priced:  # not priced on the way (a cache hit, a refusal, ...)
            outcome.cost_usd, outcome.priced = self.prices.outcome_cost(outcome), True
        try:
            self.sink(outcome)
        except Exception as exc:  # e.g. the disk is full: sending more would lose results
            self.fail(exc, "writing a result")
        for on_outcome in self._on_outcome:
            on_outcome(outcome)
