"""Adaptive concurrency and pacing for one group: slow down on 429s, recover on success.

A 429 whose rate-limit headers say the key's window is used up (``remaining: 0``) means the
quota is spent. A bare 429 is retried after its own wait and changes nothing else: APIs (and
fault injectors) answer 429 at random too, and a group that slowed down on each would crawl;
only when such 429s become most of the recent answers (``quota_ratio`` of the last
``window``) is the quota taken as spent. Then the group pauses for the ``Retry-After``, and
the requests in flight allowed and the pace are halved (at most once per ``cooldown_s``, so
one burst of 429s counts once). When the API states the key's limit in its headers, the
pace drops to just under it at once. Errors come back faster than answers, so the first
answers of a burst overstate the 429s: hence a high ``quota_ratio``. Each success wins back
a little (concurrency additively, the pace by 1%), never above the configured ceilings. A
``Retry-After`` pauses this group only.
"""

from __future__ import annotations

import asyncio
from collections import deque

from runner.limits.clock import Clock
from runner.limits.limiter import TokenBucket


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
        quota_ratio: float = 0.8,
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
        self._waiting = 0  # callers of enter() waiting for a slot
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
            self._waiting += 1
            try:
                async with self._changed:
                    await self._changed.wait()
            finally:
                self._waiting -= 1

    async def leave(self) -> None:
        """Free this caller's slot."""
        self.in_flight -= 1
        if self._waiting:  # most runs never wait here: no lock taken per request then
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

    def on_rate_limited(
        self, retry_after: float | None, spent: bool = False, limit: float | None = None
    ) -> None:
        """A 429 (or an overload): when the quota is (or looks) spent, pause and back off."""
        self._recent.append(True)
        if not (spent or self.quota_spent()):
            return
        now = self._clock.monotonic()
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)
        if now - self._last_decrease < self.cooldown_s:
            return
        self._last_decrease = now
        self.slowdowns += 1
        self.limit = max(1.0, self.limit / 2.0)
        target = self.rate_fraction / 2.0
        if limit:
            # A little under the stated limit: pacing exactly at a quota's refill rate races
            # the refill.
            target = min(target, 0.95 * limit / self.rate_ceiling)
        self.rate_fraction = max(self.min_fraction, target)
        self.pacer.set_rate(self.rate_ceiling * self.rate_fraction)
