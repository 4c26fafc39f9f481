"""Adaptive concurrency and pacing for one group: slow down on 429s, recover on success.

A 429 halves the requests in flight allowed and the pace (at most once per ``cooldown_s``,
so one burst of 429s counts once). When the API says how long to wait, the pace drops to at
most one request per that wait: for a per-key quota that is its refill rate. Each success
wins back a little (concurrency additively, the pace by 1%), never above the configured
ceilings. A ``Retry-After`` pauses this group only.
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
        min_rate_per_minute: the slowest pace.
    """

    def __init__(
        self,
        max_concurrency: int,
        rate_per_minute: float,
        clock: Clock,
        *,
        min_rate_per_minute: float = 1.0,
        cooldown_s: float = 0.25,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.limit = float(max_concurrency)
        self.rate_ceiling = rate_per_minute
        self.rate_fraction = 1.0
        self.min_fraction = min(1.0, min_rate_per_minute / rate_per_minute)
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
            self.rate_fraction = min(1.0, self.rate_fraction * 1.01)
            self.pacer.set_rate(self.rate_ceiling * self.rate_fraction)

    def on_rate_limited(self, retry_after: float | None) -> None:
        """A 429 (or an overload): back off, and pause for ``Retry-After`` if given."""
        now = self._clock.monotonic()
        target = self.rate_fraction
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)
            # At most one request per announced wait, a little under it: pacing exactly at
            # a quota's refill rate races the refill. Applies even within the cooldown.
            target = min(target, 0.9 * 60.0 / retry_after / self.rate_ceiling)
        if now - self._last_decrease >= self.cooldown_s:
            self._last_decrease = now
            self.slowdowns += 1
            self.limit = max(1.0, self.limit / 2.0)
            target = min(target, self.rate_fraction / 2.0)
        if target < self.rate_fraction:
            self.rate_fraction = max(self.min_fraction, target)
            self.pacer.set_rate(self.rate_ceiling * self.rate_fraction)
