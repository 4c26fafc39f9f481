"""The response cache on a group's request path: asked first, told after, freed if unanswered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from runner.engine.structured import check_output
from runner.engine.transport import WorkItem
from runner.output.results import Outcome
from runner.providers.base import Provider

if TYPE_CHECKING:
    from runner.cache.cache import ResponseCache


class CacheStep:
    """``cache`` (None: off) asked for work items of providers ``providers``."""

    def __init__(self, cache: ResponseCache | None, providers: Mapping[str, Provider]) -> None:
        self.cache = cache
        self.providers = providers

    async def answer(self, item: WorkItem, group: str) -> Outcome | None:
        """The cache, asked once per prompt before anything else (no limit taken).

        A hit (or, with ``cache=only``, a miss) is the outcome; None: send it. An identical
        request already in flight in this process is waited for, not sent again.
        """
        cache = self.cache
        if cache is None or item.cache_claim is not None:  # off, or a retry
            return None
        item.cache_claim = cache.claim(item.record, self.providers[item.record.api])
        known = await cache.answer(item.cache_claim, item.record, group, item.tag)
        if known is not None:
            check_output(known)  # only valid answers are cached: this parses it again
        return known

    def remember(self, item: WorkItem, outcome: Outcome) -> None:
        """After an attempt: a success goes into the cache; waiters for it are told."""
        if self.cache is not None and item.cache_claim is not None:
            self.cache.remember(item.cache_claim, outcome)

    def release(self, item: WorkItem) -> None:
        """The prompt was not answered (stopped, refused): waiters for it send their own."""
        if self.cache is not None and item.cache_claim is not None:
            self.cache.release(item.cache_claim)
