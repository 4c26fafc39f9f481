"""A group's budget and limits, taken by each send of a metered transport (online)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.cost.budget import budget_line
from runner.cost.reserve import Hold, hold
from runner.limits.adaptive import AdaptiveGate
from runner.limits.limiter import AllOf
from runner.limits.quota import TokenEstimate
from runner.output.results import Outcome
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord

if TYPE_CHECKING:
    from runner.engine.shared import Shared


class GroupMeter:
    """Holds a request's cost on the budget, waits for its limits, settles both after.

    Args:
        shared: the engine's budget, prices, limits and providers.
        group: the group whose request and token limits apply.
        gate: the group's adaptive gate (its pacer paces every request).
    """

    def __init__(self, shared: Shared, group: Group, gate: AdaptiveGate) -> None:
        self.shared = shared
        self.pace = AllOf([gate.pacer, *shared.limits.requests(group)])
        self.token_limits = shared.limits.tokens(group)
        self.budget_line = budget_line(group.name)

    async def hold_budget(self, record: PromptRecord) -> Hold | None:
        """Hold the request's cost; waits while answers in flight may free room.

        None: it does not fit (or a stop came meanwhile).
        """
        shared = self.shared
        budget = shared.budget
        provider = shared.providers[record.api]
        return await hold(
            budget,
            shared.prices,
            record,
            lambda: provider.estimate_tokens(record),
            self.budget_line,
            shared.stop.is_set,
        )

    async def take_limits(self, record: PromptRecord) -> TokenEstimate | None:
        """Wait for the group's token limits, its pace, then the record's own (its key's).

        Returns the tokens charged (None: the group has no token limit).
        """
        limits = self.shared.limits
        estimator = limits.estimator
        estimate = estimator(record) if self.token_limits and estimator else None
        if estimate is not None:
            for limit in self.token_limits:
                await limit.charge(estimate)
        await self.pace.acquire()
        for limiter in limits.per_record(record):
            await limiter.acquire()
        return estimate

    async def settle_tokens(
        self, record: PromptRecord, outcome: Outcome, estimate: TokenEstimate
    ) -> None:
        """After an attempt: the token limits corrected by the counts billed."""
        # Billed counts, as the provider's limits count them (Anthropic: no cache reads).
        usage = (
            None
            if outcome.completion is None
            else self.shared.providers[record.api].limit_usage(
                outcome.completion, record.model_name
            )
        )
        for limit in self.token_limits:
            await limit.settle(estimate, usage)

    def settle_cost(self, outcome: Outcome, held: Hold) -> None:
        """After an attempt: its cost priced, and the budget's hold settled with it."""
        # Before deciding: a retry's own reservation must see this answer's real cost.
        # Priced once (deliver reuses it).
        outcome.cost_usd, outcome.priced = self.shared.prices.outcome_cost(outcome), True
        held.settle(outcome)
