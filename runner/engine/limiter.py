"""Pacing: a token bucket per rate-limit group, in its GCRA form.

A group limited to ``rate`` queries per minute gets one token every ``60 / rate`` seconds.
The first request goes at once; afterwards requests are spaced evenly, and a group that
was idle may send a burst of at most ``burst`` requests (about one second's share of the
limit, at least one). Over any window of ``T`` seconds at most ``burst + rate * T / 60``
requests start, so the long-run rate equals the limit and never exceeds it.

Reservations are taken in call order (first come, first served) and need no lock: a
caller reserves the next free slot and then sleeps until it.
"""

from __future__ import annotations

import math

from runner.engine.clock import Clock


class TokenBucket:
    """Paces one group at ``rate_per_minute``.

    Args:
        rate_per_minute: the limit; fractional limits work (0.5 = one every two minutes).
        clock: where time comes from.
        burst: the most requests sent back to back after an idle spell; by default one
            second's share of the limit, at least one.
    """

    def __init__(self, rate_per_minute: float, clock: Clock, burst: float | None = None) -> None:
        if not rate_per_minute > 0 or not math.isfinite(rate_per_minute):
            raise ValueError(f"rate_per_minute must be positive, got {rate_per_minute}")
        self.rate_per_minute = rate_per_minute
        self._clock = clock
        self.interval = 60.0 / rate_per_minute
        self.burst = max(1.0, burst if burst is not None else rate_per_minute / 60.0)
        # How far ahead of "now" the schedule may run: (burst - 1) slots.
        self._tolerance = (self.burst - 1.0) * self.interval
        # Theoretical arrival time of the next request. Starting it at now + tolerance
        # gives exactly one token at first: the first request goes at once, no initial burst.
        self._tat = clock.monotonic() + self._tolerance

    def reserve(self) -> float:
        """Take the next slot; returns how many seconds to wait before using it."""
        now = self._clock.monotonic()
        tat = max(self._tat, now)
        start = tat - self._tolerance
        self._tat = tat + self.interval
        return max(0.0, start - now)

    async def acquire(self) -> None:
        """Wait for this caller's slot."""
        wait = self.reserve()
        if wait > 0:
            await self._clock.sleep(wait)
