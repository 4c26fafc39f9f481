"""Adaptive concurrency and pacing for one group: slow down on 429s, recover on success.

Additive increase, multiplicative decrease (as TCP does): a 429 halves the requests in
flight allowed and the pace, at most once per ``cooldown_s`` so one burst of 429s counts
once; each success adds back a little, never above the configured ceilings. A
``Retry-After`` pauses this group only.
"""

from __future__ import annotations

import asyncio

from runner.engine.clock import Clock
from runner.engine.limiter import TokenBucket


class AdaptiveGate:
    """Caps the requests in flight of a group and paces it, adapting to 429s.

    Args:
        max_concurrency: the ceiling of requests in flight.
        rate_per_minute: the ceiling of the pace.
        clock: where time comes from.
        min_rate_fraction: the slowest pace, as a fraction of the limit.
    """

    def __init__(
        self,
        max_concurrency: int,
        rate_per_minute: float,
        clock: Clock,
        *,
        min_rate_fraction: float = 0.05,
        cooldown_s: float = 1.0,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.limit = float(max_concurrency)
        self.rate_ceiling = rate_per_minute
        self.rate_fraction = 1.0
        self.min_rate_fraction = min_rate_fraction
        self.cooldown_s = cooldown_s
        self.in_flight = 0
        self.paused_until = 0.0
        self.slowdowns = 0
        self._clock = clock
        self._last_decrease = -1e18
        self._changed = asyncio.Condition()
        # Paces this process's share: only bites when slowed below the configured limit.
        self.pacer = TokenBucket(rate_per_minute, clock)

    async def enter(self) -> None:
        """Wait for a free slot under the current cap, and for any pause to end."""
        while True:
            wait = self.paused_until - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
                continue
            if self.in_flight < max(1, int(self.limit)):
                self.in_flight += 1
                return
            async with self._changed:
                await self._changed.wait()

    async def leave(self) -> None:
        """Free this caller's slot."""
        self.in_flight -= 1
        async with self._changed:
            self._changed.notify_all()

    def on_success(self) -> None:
        """A request went through: recover a little."""
        if self.limit < self.max_concurrency:
            self.limit = min(float(self.max_concurrency), self.limit + 1.0 / self.limit)
        if self.rate_fraction < 1.0:
            self.rate_fraction = min(1.0, self.rate_fraction + 0.02)
            self.pacer.set_rate(self.rate_ceiling * self.rate_fraction)

    def on_rate_limited(self, retry_after: float | None) -> None:
        """A 429 (or an overload): back off, and pause for ``Retry-After`` if given."""
        now = self._clock.monotonic()
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)
        if now - self._last_decrease < self.cooldown_s:
            return
        self._last_decrease = now
        self.slowdowns += 1
        self.limit = max(1.0, self.limit / 2.0)
        self.rate_fraction = max(self.min_rate_fraction, self.rate_fraction / 2.0)
        self.pacer.set_rate(self.rate_ceiling * self.rate_fraction)
