"""Token limits: charged by the estimate; ``actual`` settles to the usage, ``reserved`` never."""

from __future__ import annotations

import asyncio

import pytest

from runner.limits.clock import FakeClock
from runner.limits.limiter import TokenBucket
from runner.limits.quota import Accounting, Counts, Limit, Metered, TokenEstimate, Usage

ESTIMATE = TokenEstimate(input=100.0, output=500.0)


def metered(
    clock: FakeClock, counts: Counts, accounting: Accounting
) -> tuple[Metered, TokenBucket]:
    """A token limit of 600 a minute, no burst (a token is 0.1 s of the schedule), its bucket."""
    bucket = TokenBucket(600.0, clock, burst=1.0)
    return Metered(Limit(counts, 600.0, accounting=accounting), bucket), bucket


@pytest.mark.parametrize(
    ("counts", "expected"),
    [(Counts.INPUT_TOKENS, 100.0), (Counts.OUTPUT_TOKENS, 500.0), (Counts.TOTAL_TOKENS, 600.0)],
)
def test_a_limit_charges_what_it_counts(counts: Counts, expected: float) -> None:
    assert ESTIMATE.of(counts) == expected


def test_usage_of_what_was_reported() -> None:
    assert Usage(10, None).of(Counts.INPUT_TOKENS) == 10.0
    assert Usage(10, None).of(Counts.OUTPUT_TOKENS) is None
    assert Usage(10, None).of(Counts.TOTAL_TOKENS) == 10.0
    assert Usage(None, None).of(Counts.TOTAL_TOKENS) is None


async def test_reserved_keeps_the_whole_estimate_charged() -> None:
    clock = FakeClock()
    m, bucket = metered(clock, Counts.TOTAL_TOKENS, Accounting.RESERVED)
    await m.charge(ESTIMATE)
    await m.settle(ESTIMATE, Usage(10, 20))  # used far less: no refund
    assert bucket.reserve(1.0) == pytest.approx(60.0)  # 600 tokens = one minute owed


async def test_actual_refunds_the_unused_part() -> None:
    clock = FakeClock()
    m, bucket = metered(clock, Counts.TOTAL_TOKENS, Accounting.ACTUAL)
    await m.charge(ESTIMATE)
    await m.settle(ESTIMATE, Usage(10, 20))  # 30 used of 600 charged
    assert bucket.reserve(1.0) == pytest.approx(3.0)


async def test_actual_charges_more_when_usage_exceeds_the_estimate() -> None:
    clock = FakeClock()
    m, bucket = metered(clock, Counts.OUTPUT_TOKENS, Accounting.ACTUAL)
    await m.charge(ESTIMATE)
    await m.settle(ESTIMATE, Usage(100, 800))  # 300 output tokens over the estimate
    assert bucket.reserve(1.0) == pytest.approx(80.0)


async def test_actual_without_reported_usage_keeps_the_estimate() -> None:
    clock = FakeClock()
    m, bucket = metered(clock, Counts.INPUT_TOKENS, Accounting.ACTUAL)
    await m.charge(ESTIMATE)
    await m.settle(ESTIMATE, None)
    await m.settle(ESTIMATE, Usage(None, 3))  # input not reported
    assert bucket.reserve(1.0) == pytest.approx(10.0)


async def test_the_next_charge_waits_on_the_clock_for_the_tokens() -> None:
    clock = FakeClock()
    m, _ = metered(clock, Counts.TOTAL_TOKENS, Accounting.RESERVED)
    await m.charge(ESTIMATE)
    start = clock.monotonic()
    second = asyncio.create_task(m.charge(ESTIMATE))
    await clock.advance(59.0)
    assert not second.done()
    await clock.advance(1.0)
    assert second.done()
    assert clock.monotonic() - start == pytest.approx(60.0)
