"""The token bucket, on a clock the test controls."""

from __future__ import annotations

import asyncio

import pytest

from runner.limits.clock import FakeClock
from runner.limits.limiter import TokenBucket


def _schedule(bucket: TokenBucket, clock: FakeClock, n: int) -> list[float]:
    """Start times of ``n`` back-to-back reservations."""
    return [clock.monotonic() + bucket.reserve() for _ in range(n)]


def test_first_request_goes_at_once_then_even_spacing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(30, clock)  # one every 2 s
    starts = _schedule(bucket, clock, 4)
    t0 = clock.monotonic()
    assert [s - t0 for s in starts] == pytest.approx([0, 2, 4, 6])


def test_long_run_rate_equals_limit_and_never_exceeds_it() -> None:
    clock = FakeClock()
    limit = 600.0  # 10 per second
    bucket = TokenBucket(limit, clock)
    starts = _schedule(bucket, clock, 6001)
    t0 = starts[0]
    # Any 60 s window holds at most burst + limit requests; the long run is the limit.
    for i in range(len(starts)):
        j = i
        while j < len(starts) and starts[j] < starts[i] + 60:
            j += 1
        assert j - i <= limit + bucket.burst
    assert (len(starts) - 1) / ((starts[-1] - t0) / 60) == pytest.approx(limit)


async def test_burst_after_idle_is_one_seconds_share() -> None:
    clock = FakeClock()
    bucket = TokenBucket(600, clock)  # 10/s: a burst of at most 10
    assert bucket.reserve() == 0
    await clock.advance(120)  # idle for two minutes
    waits = [bucket.reserve() for _ in range(15)]
    immediate = sum(1 for w in waits if w == 0)
    assert immediate == 10
    assert waits[10] == pytest.approx(0.1)


def test_fractional_limit() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.5, clock)  # one every two minutes
    assert bucket.burst == 1
    assert bucket.reserve() == 0
    assert bucket.reserve() == pytest.approx(120)


async def test_acquire_sleeps_on_the_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, clock)  # one per second
    done: list[float] = []

    async def take() -> None:
        await bucket.acquire()
        done.append(clock.monotonic())

    tasks = [asyncio.create_task(take()) for _ in range(3)]
    await clock.advance(0)
    assert len(done) == 1
    await clock.advance(1)
    assert len(done) == 2
    await clock.advance(1)
    await asyncio.gather(*tasks)
    assert [d - done[0] for d in done] == pytest.approx([0, 1, 2])


def test_rejects_non_positive_limits() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, FakeClock())
    with pytest.raises(ValueError):
        TokenBucket(-1, FakeClock())
