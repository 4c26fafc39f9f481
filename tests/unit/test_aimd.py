"""AIMD of one group (runner/limits/adaptive.py), FakeClock: halve on a spent quota, creep back."""

from __future__ import annotations

import asyncio

import pytest

from runner.limits.adaptive import AdaptiveGate
from runner.limits.clock import FakeClock


def gate(clock: FakeClock, **kwargs: float) -> AdaptiveGate:
    return AdaptiveGate(8, 600.0, clock, **kwargs)  # type: ignore[arg-type]


def test_a_bare_429_changes_nothing() -> None:
    clock = FakeClock()
    g = gate(clock)
    g.on_rate_limited(retry_after=5.0)
    assert (g.limit, g.rate_fraction, g.slowdowns, g.paused_until) == (8.0, 1.0, 0, 0.0)


def test_a_spent_window_halves_concurrency_and_pace_and_pauses() -> None:
    clock = FakeClock()
    g = gate(clock)
    g.on_rate_limited(retry_after=5.0, spent=True)
    assert g.limit == 4.0
    assert g.rate_fraction == 0.5
    assert g.pacer.rate_per_minute == 300.0
    assert g.paused_until == clock.monotonic() + 5.0
    assert g.slowdowns == 1


def test_a_burst_of_429s_counts_once_per_cooldown() -> None:
    clock = FakeClock()
    g = gate(clock, cooldown_s=1.0)
    for _ in range(5):
        g.on_rate_limited(None, spent=True)
    assert (g.limit, g.slowdowns) == (4.0, 1)


async def test_after_the_cooldown_it_halves_again_never_below_one() -> None:
    clock = FakeClock()
    g = gate(clock, cooldown_s=1.0)
    for _ in range(12):
        g.on_rate_limited(None, spent=True)
        await clock.advance(1.0)
    assert g.limit == 1.0
    assert g.slowdowns == 12
    assert g.rate_fraction == pytest.approx(g.min_fraction)  # floored at the slowest pace
    assert g.pacer.rate_per_minute == pytest.approx(1.0)


def test_429s_that_become_most_answers_count_as_a_spent_quota() -> None:
    clock = FakeClock()
    g = gate(clock, window=10, quota_ratio=0.8)
    for _ in range(7):
        g.on_rate_limited(None)
    assert g.slowdowns == 0
    g.on_rate_limited(None)  # the eighth of ten recent answers
    assert g.slowdowns == 1


def test_answers_between_429s_keep_the_group_at_full_speed() -> None:
    clock = FakeClock()
    g = gate(clock, window=10, quota_ratio=0.8)
    for _ in range(50):
        g.on_rate_limited(None)
        g.on_success()
    assert g.slowdowns == 0 and g.limit == 8.0


def test_a_stated_limit_paces_just_under_it_at_once() -> None:
    clock = FakeClock()
    g = gate(clock)
    g.on_rate_limited(None, spent=True, limit=60.0)
    assert g.pacer.rate_per_minute == pytest.approx(0.95 * 60.0)


def test_successes_win_back_additively_up_to_the_ceilings() -> None:
    clock = FakeClock()
    g = gate(clock)
    g.on_rate_limited(None, spent=True)
    g.on_success()
    assert g.limit == pytest.approx(4.25)  # + 1 / limit
    assert g.rate_fraction == pytest.approx(0.505)  # pace +1%
    for _ in range(10_000):
        g.on_success()
    assert (g.limit, g.rate_fraction) == (8.0, 1.0)
    assert g.pacer.rate_per_minute == 600.0


async def test_enter_waits_out_the_pause_on_the_clock() -> None:
    clock = FakeClock()
    g = gate(clock)
    g.on_rate_limited(retry_after=10.0, spent=True)
    entered = asyncio.create_task(g.enter())
    await clock.advance(9.0)
    assert not entered.done()
    await clock.advance(1.0)
    assert entered.done() and g.in_flight == 1


async def test_enter_caps_requests_in_flight_at_the_current_limit() -> None:
    clock = FakeClock()
    g = AdaptiveGate(2, 600.0, clock)
    await g.enter()
    await g.enter()
    third = asyncio.create_task(g.enter())
    await clock.settle()
    assert not third.done()
    await g.leave()
    await clock.settle()
    assert third.done() and g.in_flight == 2
