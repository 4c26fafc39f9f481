"""The budget alone: reserve, settle, refuse; what is spent and held never passes the cap."""

from __future__ import annotations

import asyncio
import random

import pytest

from runner.cost.budget import GENERATION, Budget, budget_line


def test_an_unlimited_budget_accepts_and_still_counts() -> None:
    budget = Budget()
    assert budget.reserve(5.0, GENERATION)
    assert budget.reserve(None, GENERATION)
    budget.settle(5.0, 1.25, GENERATION)
    assert budget.spent_usd == 1.25
    assert budget.reserved_usd == 0.0


def test_reserve_holds_and_settle_replaces_by_the_actual_cost() -> None:
    budget = Budget(limit_usd=1.0)
    assert budget.reserve(0.4, GENERATION)
    assert budget.reserved_usd == pytest.approx(0.4)
    budget.settle(0.4, 0.1, GENERATION)
    assert budget.reserved_usd == pytest.approx(0.0)
    assert budget.spent == {GENERATION: pytest.approx(0.1)}


def test_an_unknown_actual_keeps_the_reservation_as_spent() -> None:
    budget = Budget(limit_usd=1.0)
    assert budget.reserve(0.3, GENERATION)
    budget.settle(0.3, None, GENERATION)  # a timeout that may have been billed
    assert budget.spent_usd == pytest.approx(0.3)


def test_a_reservation_that_does_not_fit_is_refused_and_stops_everything() -> None:
    budget = Budget(limit_usd=1.0)
    assert budget.reserve(0.6, GENERATION)
    assert not budget.reserve(0.6, GENERATION)
    assert budget.exhausted
    assert not budget.reserve(0.01, "judge:quality")  # every line, from then on


def test_an_unknown_cost_is_refused_under_a_cap() -> None:
    budget = Budget(limit_usd=1.0)
    assert not budget.reserve(None, GENERATION)
    assert budget.exhausted


def test_lines_have_their_own_totals_under_one_cap() -> None:
    assert budget_line("judge:quality") == "judge:quality"
    assert budget_line("openai/gpt") == GENERATION
    budget = Budget(limit_usd=1.0)
    for line, cost in [(GENERATION, 0.5), ("judge:quality", 0.3)]:
        assert budget.reserve(cost, line)
        budget.settle(cost, cost, line)
    assert budget.spent == {GENERATION: 0.5, "judge:quality": 0.3}
    assert not budget.reserve(0.25, "judge:quality")


async def test_acquire_waits_for_answers_in_flight_to_free_room() -> None:
    budget = Budget(limit_usd=1.0)
    assert await budget.acquire(0.8, lambda: False)
    waiting = asyncio.create_task(budget.acquire(0.5, lambda: False))
    await asyncio.sleep(0)
    assert not waiting.done()
    budget.settle(0.8, 0.2, GENERATION)  # the answer used less than reserved
    assert await waiting
    assert budget.reserved_usd == pytest.approx(0.5)


async def test_acquire_refuses_what_could_never_fit() -> None:
    budget = Budget(limit_usd=1.0)
    assert await budget.acquire(0.5, lambda: False)
    budget.settle(0.5, 0.5, GENERATION)
    assert not await budget.acquire(0.6, lambda: False)
    assert budget.exhausted


async def test_a_request_over_the_whole_cap_is_refused_alone() -> None:
    # One prompt with max_tokens 1e30 marked the budget reached: every other prompt of the
    # run was refused with it, though each fitted.
    budget = Budget(limit_usd=1.0)
    assert not await budget.acquire(5.0, lambda: False)
    assert not budget.exhausted
    assert await budget.acquire(0.5, lambda: False)
    assert budget.reserved_usd == pytest.approx(0.5)


async def test_a_stop_while_waiting_is_not_a_spent_budget() -> None:
    budget = Budget(limit_usd=1.0)
    stop = False
    assert await budget.acquire(0.9, lambda: stop)
    waiting = asyncio.create_task(budget.acquire(0.5, lambda: stop))
    await asyncio.sleep(0)
    stop = True
    budget.wake()
    assert not await waiting
    assert not budget.exhausted


@pytest.mark.parametrize("seed", range(20))
def test_spent_and_held_never_pass_the_cap(seed: int) -> None:
    rng = random.Random(seed)
    budget = Budget(limit_usd=2.0)
    held: list[float] = []
    for _ in range(300):
        if held and rng.random() < 0.5:
            reserved = held.pop(rng.randrange(len(held)))
            budget.settle(reserved, rng.uniform(0.0, reserved), GENERATION)
        else:
            cost = rng.uniform(0.0, 0.3)
            if budget.reserve(cost, GENERATION):
                held.append(cost)
        assert budget.spent_usd + budget.reserved_usd <= 2.0 + 1e-9
    for reserved in held:
        budget.settle(reserved, reserved, GENERATION)
    assert budget.spent_usd <= 2.0 + 1e-9
