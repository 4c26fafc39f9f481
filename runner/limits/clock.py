"""Time, injected: the engine asks a clock instead of calling ``time`` or ``asyncio.sleep``.

Tests drive :class:`FakeClock` by hand, so pacing and backoff are checked without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the engine needs of time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; for pacing and latency."""
        ...

    def wall(self) -> datetime:
        """The current UTC time; for timestamps written to results."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (return at once when it is zero or less)."""
        ...


class SystemClock:
    """The real clock."""

    # time.monotonic itself: no Python frame around it (asked ~8 times a prompt).
    monotonic = staticmethod(time.monotonic)

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to; sleepers wake in deadline order.

    ``await clock.advance(s)`` moves time forward, waking every sleeper whose deadline has
    come and letting the woken tasks run before it returns.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._epoch = datetime(2026, 1, 1, tzinfo=UTC).timestamp() - start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return datetime.fromtimestamp(self._epoch + self._now, UTC)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._counter), future))
        await future

    async def settle(self) -> None:
        """Let every runnable task run until all are blocked."""
        for _ in range(50):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers in deadline order."""
        target = self._now + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()
