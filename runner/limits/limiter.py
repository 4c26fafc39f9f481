"""Pacing: token buckets in their GCRA form, in-process or shared between processes.

A limit of ``rate`` units per minute gives one unit every ``60 / rate`` seconds. The first
request goes at once; afterwards requests are spaced evenly, and a bucket that was idle may
send a burst of at most ``burst`` units (about one second's share of the limit, at least
one). Over any window of ``T`` seconds at most ``burst + rate * T / 60`` units start, so the
long-run rate equals the limit and never exceeds it.

Units are requests for query limits and tokens for token limits (a request then costs its
estimated tokens, corrected later by what the API reports).

Reservations are taken in call order and need no lock in-process: a caller reserves the
next free slot and then sleeps until it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from runner.limits.clock import Clock


@dataclass
class Gcra:
    """The arithmetic of a token bucket: a theoretical arrival time ``tat``.

    Args:
        rate_per_minute: the limit; fractions work (0.5 = one every two minutes).
        burst: the most units back to back after an idle spell.
    """

    rate_per_minute: float
    burst: float
    # Seconds per unit, and how far ahead of now the schedule may run ((burst - 1) units):
    # fixed with the rate, read at every request.
    interval: float = field(init=False)
    tolerance: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.rate_per_minute > 0 or not math.isfinite(self.rate_per_minute):
            raise ValueError(f"rate_per_minute must be positive, got {self.rate_per_minute}")
        self.burst = max(1.0, self.burst)
        self.interval = 60.0 / self.rate_per_minute
        self.tolerance = (self.burst - 1.0) * self.interval

    def initial_tat(self, now: float) -> float:
        # now + tolerance: exactly one unit available at first, so no initial burst.
        return now + self.tolerance

    def reserve(self, tat: float, now: float, cost: float = 1.0) -> tuple[float, float]:
        """Take ``cost`` units; returns (seconds to wait, the new tat)."""
        if tat < now:
            tat = now
        wait = tat - self.tolerance - now
        return (wait if wait > 0.0 else 0.0), tat + cost * self.interval

    def rescale(self, tat: float, now: float, old_rate_per_minute: float) -> float:
        """A ``tat`` reserved at another rate, as this rate: the units still owed are kept.

        A slot reserved at 1/min by one run must not hold back a run at 6,000/min on the same
        key for a minute: one unit owed at the old pace is one unit at the new pace. A slower
        new rate keeps the schedule as it was (it is sooner): it never waits longer either.
        """
        if not old_rate_per_minute > 0 or tat <= now:
            return min(tat, self.initial_tat(now))
        owed_units = (tat - now) * old_rate_per_minute / 60.0
        return min(tat, now + owed_units * self.interval)

    def adjust(self, tat: float, now: float, delta: float) -> float:
        """Charge (or refund, if negative) ``delta`` units already used; returns the new tat."""
        return (
            max(now - self.tolerance, tat + delta * self.interval)
            if delta < 0
            else (tat + delta * self.interval)
        )


class Limiter(Protocol):
    """Something that paces requests: in-process, shared between processes, or remote."""

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until ``cost`` units may be used."""
        ...

    async def adjust(self, delta: float) -> None:
        """Correct an earlier charge by ``delta`` units (negative refunds)."""
        ...


def default_burst(rate_per_minute: float) -> float:
    """One second's share of the limit, at least one."""
    return max(1.0, rate_per_minute / 60.0)


class TokenBucket:
    """An in-process bucket; see the module docstring.

    Args:
        rate_per_minute: the limit.
        clock: where time comes from.
        burst: the most units back to back after an idle spell; by default one second's
            share of the limit, at least one.
    """

    def __init__(self, rate_per_minute: float, clock: Clock, burst: float | None = None) -> None:
        self._fixed_burst = burst
        self._gcra = Gcra(
            rate_per_minute, burst if burst is not None else default_burst(rate_per_minute)
        )
        self._clock = clock
        self._tat = self._gcra.initial_tat(clock.monotonic())

    @property
    def rate_per_minute(self) -> float:
        return self._gcra.rate_per_minute

    @property
    def burst(self) -> float:
        return self._gcra.burst

    @property
    def interval(self) -> float:
        return self._gcra.interval

    def set_rate(self, rate_per_minute: float) -> None:
        """Change the pace from now on; the burst stays one second's share of the new pace."""
        burst = (
            self._fixed_burst if self._fixed_burst is not None else default_burst(rate_per_minute)
        )
        self._gcra = Gcra(rate_per_minute, burst)

    def reserve(self, cost: float = 1.0) -> float:
        """Take the next slot; returns how many seconds to wait before using it."""
        wait, self._tat = self._gcra.reserve(self._tat, self._clock.monotonic(), cost)
        return wait

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait for this caller's slot."""
        wait = self.reserve(cost)
        if wait > 0:
            await self._clock.sleep(wait)

    async def adjust(self, delta: float) -> None:
        self._tat = self._gcra.adjust(self._tat, self._clock.monotonic(), delta)


class AllOf:
    """Waits for every one of several limiters (a group's, and its API key's)."""

    def __init__(self, limiters: Sequence[Limiter]) -> None:
        self.limiters = list(limiters)

    async def acquire(self, cost: float = 1.0) -> None:
        for limiter in self.limiters:
            await limiter.acquire(cost)

    async def adjust(self, delta: float) -> None:
        for limiter in self.limiters:
            await limiter.adjust(delta)
