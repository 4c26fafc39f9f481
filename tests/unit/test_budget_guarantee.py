"""The budget's guarantee (issue 23 item 1), as a property over many random runs.

A billing fake provider keeps the bill a provider would send: every answer at its billed
usage, and a timed-out attempt that the model finished anyway. Over random concurrency,
retries, timeouts, latencies and estimate errors (prompts billed up to 3x their estimated
input, media prompts billed unlike text ones), on a fake clock:

* the bill never exceeds ``max_cost_usd``;
* runner never counts less than the bill (a timeout is charged its reservation);
* the cap is reached only when the next request could not fit even with nothing in
  flight (answers in flight release what they did not use first).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from runner.config.schema import RunConfig
from runner.cost.budget import Budget
from runner.cost.prices import Price, PriceBook
from runner.cost.reserve import FIRST_FACTOR, MARGIN, reservation
from runner.engine.engine import Engine, EngineSettings
from runner.engine.retry import Backoff
from runner.errors import ErrorKind, ProviderError
from runner.limits.clock import FakeClock
from runner.limits.tokens import estimate_split
from runner.output.results import Outcome
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion, Provider, ProviderContext

# $1 per thousand tokens in and out: a token costs a tenth of a cent.
PRICE = Price(1000.0, 1000.0)
USD_PER_TOKEN = 0.001


@dataclass
class Case:
    """One random run: its prompts, how the provider behaves, and the cap."""

    seed: int
    rng: random.Random = field(init=False)
    ratio: dict[bool, float] = field(default_factory=dict)  # billed/estimated input, per shape

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.ratio = {False: self.rng.uniform(0.3, 3.0), True: self.rng.uniform(0.3, 3.0)}


class BillingProvider(Provider):
    """Answers after a random latency, or fails (timeout, 429, 500), and keeps the bill."""

    api = "billed"

    def __init__(self, case: Case, clock: FakeClock, timeout_rate: float) -> None:
        super().__init__(ProviderContext(RunConfig()))
        self.case = case
        self.clock = clock
        self.timeout_rate = timeout_rate
        self.bill = 0.0
        self.in_flight = 0
        self.most_in_flight = 0
        self.answered = 0

    def billed_usage(self, record: PromptRecord) -> tuple[int, int]:
        """What the model uses: input off the estimate by the shape's ratio, a random answer."""
        rng = self.case.rng
        estimate = estimate_split(record, 256)
        media = not isinstance(record.prompt, str)
        # Within the margin of the worst ratio seen: the error runner learns and bounds.
        jitter = rng.uniform(1.0 / (MARGIN * 0.95) ** 0.5, (MARGIN * 0.95) ** 0.5)
        tokens_in = round(estimate.input * self.case.ratio[media] * jitter)
        # Thinking prompts: most answers stop far below their bound.
        tokens_out = rng.randint(0, int(estimate.output))
        return tokens_in, tokens_out

    async def complete(self, record: PromptRecord) -> Completion:
        rng = self.case.rng
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            tokens_in, tokens_out = self.billed_usage(record)
            cost = (tokens_in + tokens_out) * USD_PER_TOKEN
            await self.clock.sleep(rng.uniform(0.1, 5.0))
            roll = rng.random()
            if roll < self.timeout_rate:
                if rng.random() < 0.7:  # the model finished it: billed, never seen
                    self.bill += cost
                raise ProviderError("timed out after 1 s (timeout_s)", ErrorKind.RETRYABLE)
            if roll < self.timeout_rate + 0.05:
                raise ProviderError("rate limited", ErrorKind.RETRYABLE, status=429)
            if roll < self.timeout_rate + 0.08:
                raise ProviderError("server error", ErrorKind.RETRYABLE, status=500)
            self.bill += cost
            self.answered += 1
            return Completion("ok", tokens_in, tokens_out)
        finally:
            self.in_flight -= 1


def _records(case: Case, n: int) -> list[PromptRecord]:
    rng = case.rng
    records = []
    for i in range(n):
        text = "word " * rng.randint(5, 400)
        prompt: Any = text
        if rng.random() < 0.3:  # a media prompt: its image is billed, not in its characters
            prompt = [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": text},
                        {"type": "image", "media": "x.png"},
                    ],
                }
            ]
        params = {"max_tokens": rng.choice([16, 64, 256, 1024])}
        records.append(
            PromptRecord(
                {
                    "id": i,
                    "api": "billed",
                    "model_name": "m",
                    "prompt": prompt,
                    "parameters": params,
                }
            )
        )
    return records


async def _run_case(case: Case) -> tuple[BillingProvider, Budget, list[Outcome], float]:
    rng = case.rng
    clock = FakeClock()
    provider = BillingProvider(case, clock, timeout_rate=rng.choice([0.0, 0.1, 0.3]))
    records = _records(case, rng.randint(5, 60))
    # A cap from a few prompts' worth to more than the run needs.
    cap = rng.uniform(0.2, 1.5) * sum(
        sum(provider.billed_usage(r)) * USD_PER_TOKEN for r in records
    )
    cap = max(cap, 0.001)
    budget = Budget(cap)
    outcomes: list[Outcome] = []
    engine = Engine(
        {"billed": provider},
        EngineSettings(max_attempts=rng.randint(1, 4), max_concurrency=rng.choice([1, 4, 16])),
        clock,
        Backoff(0.5, 4.0, random.Random(case.seed)),
        outcomes.append,
        budget=budget,
        prices=PriceBook({"billed/m": PRICE}),
    )
    task = asyncio.create_task(engine.run({"g": Group("g", 1e9, records)}))
    for _ in range(20_000):
        if task.done():
            break
        await clock.advance(0.25)
    assert task.done(), f"seed {case.seed}: the run did not end"
    task.result()
    return provider, budget, outcomes, cap


def _largest_reservation(records: list[PromptRecord], case: Case) -> float:
    """The most any prompt could reserve: first of its shape, or at the worst ratio."""
    prices = PriceBook({"billed/m": PRICE})
    worst = max(FIRST_FACTOR, max(case.ratio.values()) * MARGIN * MARGIN)
    found = [
        reservation(prices, r, estimate_split(r, 256), factor, batch=False)
        for r in records
        for factor in (FIRST_FACTOR, worst)
    ]
    return max(usd for usd in found if usd is not None)


@pytest.mark.parametrize("seeds", [range(0, 60), range(60, 120), range(120, 180)])
def test_the_bill_never_exceeds_the_cap_over_random_runs(seeds: range) -> None:
    for seed in seeds:
        case = Case(seed)
        provider, budget, outcomes, cap = asyncio.run(_run_case(case))
        records = [o.record for o in outcomes]
        where = f"seed {seed}: bill {provider.bill:.4f}, cap {cap:.4f}"
        assert provider.bill <= cap + 1e-9, where
        assert budget.spent_usd >= provider.bill - 1e-9, where  # never counts less than billed
        assert budget.spent_usd <= cap + 1e-9, where
        not_sent = [o for o in outcomes if o.error_kind == "budget"]
        if not_sent and budget.exhausted:
            # Stopped only when the next prompt could not fit with nothing in flight.
            assert cap - budget.spent_usd < _largest_reservation(records, case), where
        elif not_sent:  # refused alone, each over the whole cap; the others were sent
            assert _largest_reservation(records, case) > cap, where
        assert len(outcomes) == len(records)
