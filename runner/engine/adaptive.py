"""Adaptive concurrency and pacing for one group: slow down on 429s, recover on success.

A lone 429 is retried after its own wait and changes nothing else: APIs (and fault
injectors) answer 429 at random too, and a group that slowed down on each would crawl. When
429s become most of the recent answers (``quota_ratio`` of the last ``window``), the key's
quota is spent: the group pauses for the ``Retry-After``, and the requests in flight allowed
and the pace are halved (at most once per ``cooldown_s``, so one burst of 429s counts
once). When the API says how long to wait, the pace drops to at most one request per that
wait: for a per-key quota that is its refill rate. Each success
wins back a little (concurrency additively, the pace by 1%), never above the configured
ceilings. A ``Retry-After`` pauses this group only.
"""

from __future__ import annotations

import asyncio
from collections import deque

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
        window: int = 30,
        quota_ratio: float = 0.6,
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
        self._recent: deque[bool] = deque(maxlen=window)  # True: answered 429
        self._quota_count = max(1, round(quota_ratio * window))
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

    def on_answer(self) -> None:
        """A request was answered with anything but a 429 (success or another error)."""
        self._recent.append(False)

    def on_success(self) -> None:
        """A request went through: recover a little."""
        self.on_answer()
        if self.limit < self.max_concurrency:
            self.limit = min(float(self.max_concurrency), self.limit + 1.0 / self.limit)
        if self.rate_fraction < 1.0:
            self.rate_fraction = min(1.0, self.rate_fraction * 1.01)
            self.pacer.set_rate(self.rate_ceiling * self.rate_fraction)

    def quota_spent(self) -> bool:
        """Whether 429s are most of the recent answers."""
        return sum(self._recent) >= self._quota_count

    def on_rate_limited(self, retry_after: float | None) -> None:
        """A 429 (or an overload): when the quota looks spent, pause and back off."""
        self._recent.append(True)
        if not self.quota_spent():
            return
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
