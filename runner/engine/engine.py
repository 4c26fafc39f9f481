"""The engine: every group runs concurrently, paced by its own token bucket.

Inside a group, ``max_concurrency`` workers take prompts from a queue, wait for a token,
and send. A retryable failure puts the prompt back on the queue after its backoff, while
the workers go on with the others (no retry rounds); retries take tokens like any request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from loguru import logger

from runner.engine.clock import Clock
from runner.engine.limiter import TokenBucket
from runner.engine.retry import Backoff
from runner.engine.stats import GroupStats
from runner.errors import ErrorKind, ProviderError
from runner.output.results import Outcome
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord
from runner.providers.base import Provider

OutcomeSink = Callable[[Outcome], None]


@dataclass
class EngineSettings:
    """The engine's knobs (a slice of the run's settings)."""

    max_attempts: int = 3
    max_concurrency: int = 16


@dataclass
class _Item:
    record: PromptRecord
    attempts: int = 0


class Engine:
    """Runs groups of prompts against providers and hands every outcome to ``sink``.

    Args:
        providers: the provider of each api the prompts use.
        settings: attempts and concurrency.
        clock: time source (a fake one in tests).
        backoff: waits between attempts.
        sink: receives every outcome as soon as it is known (written to disk at once).
        on_change: called after any counter of a group changed (for progress displays).
    """

    def __init__(
        self,
        providers: Mapping[str, Provider],
        settings: EngineSettings,
        clock: Clock,
        backoff: Backoff,
        sink: OutcomeSink,
        on_change: Callable[[GroupStats], None] | None = None,
    ) -> None:
        self._providers = providers
        self._settings = settings
        self._clock = clock
        self._backoff = backoff
        self._sink = sink
        self._on_change = on_change or (lambda _stats: None)

    async def run(self, groups: Mapping[str, Group]) -> dict[str, GroupStats]:
        """Run all groups to the end; returns each group's counters."""
        stats = {
            name: GroupStats(name, g.rate_per_minute, total=len(g.records))
            for name, g in groups.items()
        }
        await asyncio.gather(*(self._run_group(g, stats[name]) for name, g in groups.items()))
        return stats

    async def _run_group(self, group: Group, stats: GroupStats) -> None:
        if not group.records:
            return
        bucket = TokenBucket(group.rate_per_minute, self._clock)
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        for record in group.records:
            queue.put_nowait(_Item(record))
        remaining = len(group.records)
        all_done = asyncio.Event()
        retry_timers: set[asyncio.Task[None]] = set()
        stopped: list[ProviderError] = []  # set once a hard quota error stops the group

        def finish(outcome: Outcome) -> None:
            nonlocal remaining
            if outcome.ok:
                stats.ok += 1
            else:
                stats.error += 1
            self._sink(outcome)
            remaining -= 1
            self._on_change(stats)
            if remaining == 0:
                stats.finished = self._clock.monotonic()
                all_done.set()

        async def requeue_later(item: _Item, delay: float) -> None:
            await self._clock.sleep(delay)
            queue.put_nowait(item)

        async def worker() -> None:
            while True:
                item = await queue.get()
                if stopped:
                    stats.not_sent += 1
                    finish(
                        Outcome(
                            item.record,
                            group.name,
                            item.attempts,
                            error=ProviderError(f"not sent: {stopped[0]}", ErrorKind.QUOTA),
                            error_kind="not_sent",
                        )
                    )
                    continue
                await bucket.acquire()
                outcome = await self._attempt(item, group.name, stats)
                error = outcome.error
                if error is not None and error.kind is ErrorKind.QUOTA and not stopped:
                    stopped.append(error)
                    logger.error("Group {}: hard quota error, sending stops: {}", group.name, error)
                if (
                    error is not None
                    and error.kind is ErrorKind.RETRYABLE
                    and item.attempts < self._settings.max_attempts
                ):
                    delay = self._backoff.delay(item.attempts, error.retry_after)
                    stats.retries += 1
                    logger.debug(
                        "{} attempt {} failed ({}); retrying in {:.2f} s",
                        item.record.where,
                        item.attempts,
                        error,
                        delay,
                    )
                    timer = asyncio.create_task(requeue_later(item, delay))
                    retry_timers.add(timer)
                    timer.add_done_callback(retry_timers.discard)
                    continue
                finish(outcome)

        n_workers = min(self._settings.max_concurrency, len(group.records))
        workers = [asyncio.create_task(worker()) for _ in range(n_workers)]
        try:
            await all_done.wait()
        finally:
            for task in [*workers, *retry_timers]:
                task.cancel()
            await asyncio.gather(*workers, *retry_timers, return_exceptions=True)

    async def _attempt(self, item: _Item, group: str, stats: GroupStats) -> Outcome:
        """Send one attempt of ``item`` and say how it went."""
        record = item.record
        provider = self._providers[record.api]
        item.attempts += 1
        stats.requests += 1
        started = self._clock.monotonic()
        if stats.first_sent is None:
            stats.first_sent = started
        stats.last_sent = started
        sent_at = self._clock.wall()
        outcome = Outcome(record, group, item.attempts, sent_at=sent_at)
        try:
            outcome.completion = await provider.complete(record)
        except ProviderError as exc:
            outcome.error = exc
            outcome.error_kind = exc.kind.value
        except Exception as exc:  # a bug in a provider must not end the run
            logger.opt(exception=exc).error("{}: unexpected error in provider", record.where)
            outcome.error = ProviderError(f"internal error: {type(exc).__name__}: {exc}")
            outcome.error_kind = "internal"
        outcome.received_at = self._clock.wall()
        outcome.latency_s = self._clock.monotonic() - started
        return outcome
