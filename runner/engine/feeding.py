"""A group's prompts as work items, read ahead of sending within a bounded room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator

from runner.engine.transport import WorkItem
from runner.prompts.grouping import Records, Tagged
from runner.prompts.records import PromptRecord


def work_item(entry: PromptRecord | Tagged) -> WorkItem:
    """A record (or a tagged one) as a work item with no attempt yet."""
    return WorkItem(entry.record, entry.tag) if isinstance(entry, Tagged) else WorkItem(entry)


async def work_items(records: Records) -> AsyncIterator[WorkItem]:
    """A group's records, whether a list, a lazy file reader, or fed as results arrive."""
    if isinstance(records, AsyncIterable):
        async for entry in records:
            yield work_item(entry)
    else:
        for entry in records:
            yield work_item(entry)


class Room:
    """Read-ahead: how many prompts may be read from the records before their outcomes.

    The feeder waits for room only when none is left, and is woken once a quarter of the
    room is free again, not at each outcome: a task switch per prompt saved.
    """

    def __init__(self, size: int) -> None:
        self.free = size
        self._refill = max(1, size // 4)
        self._waiter: asyncio.Future[None] | None = None

    async def take(self) -> None:
        while self.free <= 0:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        self.free -= 1

    def give_back(self) -> None:
        self.free += 1
        waiter = self._waiter
        if waiter is not None and self.free >= self._refill:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
