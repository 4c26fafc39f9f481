"""Chunks: prompts gathered per ``(api, model_name)`` until a batch's worth, or a pause.

A chunk is cut when the next prompt would pass the adapter's limits (count and bytes), or
when no prompt has joined it for :data:`LINGER_S`; each cut chunk goes to ``cut``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.batch.adapter import BatchLimits
from runner.engine.transport import GroupHandle, WorkItem
from runner.limits.clock import Clock

# A chunk is sent once no prompt has joined it for this long (seconds): the feeder has
# given all it has for now, so waiting longer only delays the batch.
LINGER_S = 0.5

Key = tuple[str, str]  # (api, model_name)


@dataclass
class Waiting:
    """A prompt in a chunk or a batch, and the group its outcome goes back to."""

    group: GroupHandle
    item: WorkItem
    line: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    reserved: float | None = None  # its estimated batch cost held on the budget


@dataclass
class _Open:
    """The chunk being filled for one (api, model_name)."""

    entries: dict[str, Waiting] = field(default_factory=dict)
    size: int = 0
    last_add: float = 0.0
    timer: asyncio.Task[None] | None = None


class Chunks:
    """The open chunk of each ``(api, model_name)``.

    Args:
        clock: times the pause after the last prompt joined.
        limits: the batch limits of an api.
        cut: takes a full (or idle) chunk: its api, model name and prompts by custom id.
    """

    def __init__(
        self,
        clock: Clock,
        limits: Callable[[str], BatchLimits],
        cut: Callable[[str, str, dict[str, Waiting]], None],
    ) -> None:
        self.clock = clock
        self.limits = limits
        self.cut = cut
        self.open: dict[Key, _Open] = {}

    def add(self, key: Key, cid: str, waiting: Waiting) -> None:
        """Put ``waiting`` (custom id ``cid``) in the chunk of ``key``, cutting it first if full."""
        open_ = self.open.setdefault(key, _Open())
        limits = self.limits(key[0])
        if open_.entries and (
            len(open_.entries) + 1 > limits.max_requests
            or open_.size + waiting.size > limits.max_bytes
        ):
            self._flush(key)
            open_ = self.open.setdefault(key, _Open())
        open_.entries[cid] = waiting
        open_.size += waiting.size
        open_.last_add = self.clock.monotonic()
        if open_.timer is None:
            open_.timer = asyncio.create_task(self._linger(key, open_))

    def close(self) -> None:
        """Stop the timers: the prompts of chunks not cut yet stay unsent."""
        for open_ in self.open.values():
            if open_.timer is not None:
                open_.timer.cancel()

    async def _linger(self, key: Key, open_: _Open) -> None:
        while True:
            idle = self.clock.monotonic() - open_.last_add
            if idle >= LINGER_S:
                break
            await self.clock.sleep(LINGER_S - idle)
        if self.open.get(key) is open_:
            open_.timer = None  # this task is the one flushing: not to be cancelled
            self._flush(key)

    def _flush(self, key: Key) -> None:
        open_ = self.open.pop(key)
        if open_.timer is not None:
            open_.timer.cancel()
        if not open_.entries:
            return
        self.cut(key[0], key[1], open_.entries)
