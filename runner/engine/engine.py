"""The engine: every group runs concurrently, paced by its own limiters.

Inside a group, workers take prompts from a queue fed lazily from the group's records,
wait for the group's slot (concurrency cap, pause, request and token limits), and send. A
retryable failure puts the prompt back on the queue after its backoff while the workers go
on with the others (no retry rounds); retries take tokens like any request. A stop request
ends sending: queued prompts stay unsent (a resume sends them), requests in flight finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass

from loguru import logger

from runner.engine.adaptive import AdaptiveGate
from runner.engine.clock import Clock
from runner.engine.limiter import AllOf, Limiter
from runner.engine.retry import Backoff
from runner.engine.stats import GroupStats
from runner.engine.timeline import Timeline, attempt_kind
from runner.errors import ErrorKind, ProviderError, RunnerError
from runner.output.results import Outcome
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion, Provider

OutcomeSink = Callable[[Outcome], None]
# Extra limiters of a group beyond its own pace (shared buckets, token buckets).
LimiterFactory = Callable[[Group], list[Limiter]]
TokenEstimate = Callable[[PromptRecord], float]


@dataclass
class EngineSettings:
    """The engine's knobs (a slice of the run's settings)."""

    max_attempts: int = 3
    max_concurrency: int = 16
    # Prompts read ahead of sending, per group: bounds memory whatever the input size.
    read_ahead: int = 1000


@dataclass
class _Item:
    record: PromptRecord
    attempts: int = 0


async def _aiter(
    records: Iterable[PromptRecord] | AsyncIterable[PromptRecord],
) -> AsyncIterator[PromptRecord]:
    """A group's records, whether a list, a lazy file reader, or fed as results arrive."""
    if isinstance(records, AsyncIterable):
        async for record in records:
            yield record
    else:
        for record in records:
            yield record


def _used_tokens(completion: Completion) -> float | None:
    if completion.input_tokens is None and completion.output_tokens is None:
        return None
    return float((completion.input_tokens or 0) + (completion.output_tokens or 0))


class Engine:
    """Runs groups of prompts against providers and hands every outcome to ``sink``.

    Args:
        providers: the provider of each api the prompts use.
        settings: attempts, concurrency, read-ahead.
        clock: time source (a fake one in tests).
        backoff: waits between attempts.
        sink: receives every outcome as soon as it is known (written to disk at once).
        on_change: called after a group's counters changed (for progress displays).
        limiters: extra request limiters of a group (shared with other processes).
        token_limiters: token limiters of a group; requests then cost their estimate.
        estimate_tokens: a record's estimated tokens (prompt plus the most it may answer).
        record_limiters: limiters a record's request also waits for (its API key's own
            limit, shared by every group sending with that key).
        timeline: records each attempt and slowdown per interval (for the run's report).
    """

    def __init__(
        self,
        providers: Mapping[str, Provider],
        settings: EngineSettings,
        clock: Clock,
        backoff: Backoff,
        sink: OutcomeSink,
        on_change: Callable[[GroupStats], None] | None = None,
        limiters: LimiterFactory | None = None,
        token_limiters: LimiterFactory | None = None,
        estimate_tokens: TokenEstimate | None = None,
        record_limiters: Callable[[PromptRecord], list[Limiter]] | None = None,
        timeline: Timeline | None = None,
    ) -> None:
        self._providers = providers
        self._settings = settings
        self._clock = clock
        self._backoff = backoff
        self._sink = sink
        self._on_change = on_change or (lambda _stats: None)
        self._limiters = limiters or (lambda _group: [])
        self._token_limiters = token_limiters or (lambda _group: [])
        self._estimate = estimate_tokens or (lambda _record: 1.0)
        self._record_limiters = record_limiters or (lambda _record: [])
        self.timeline = timeline or Timeline()
        self.stop_requested = asyncio.Event()
        self.gates: dict[str, AdaptiveGate] = {}
        # Live counters: complete even when a run is cut short.
        self.stats: dict[str, GroupStats] = {}
        # An error that must end the run (a result that could not be written, a limiter
        # that broke): sending stops, and run() raises it once in-flight requests are done.
        self.fatal: BaseException | None = None

    def request_stop(self) -> None:
        """Stop sending: queued prompts stay unsent, requests in flight finish."""
        self.stop_requested.set()

    async def run(self, groups: Mapping[str, Group]) -> dict[str, GroupStats]:
        """Run all groups to the end (or to a stop); returns each group's counters."""
        stats = {
            name: GroupStats(name, g.rate_per_minute, total=g.total) for name, g in groups.items()
        }
        self.stats = stats
        for name, g in groups.items():
            self.timeline.limits(name, g.rate_per_minute, g.tokens_per_minute)
        await asyncio.gather(*(self._run_group(g, stats[name]) for name, g in groups.items()))
        if self.fatal is not None:
            raise RunnerError(f"the run stopped: {self.fatal}") from self.fatal
        return stats

    def _fail(self, exc: BaseException, doing: str) -> None:
        """Stop the run after an error no prompt can be blamed for."""
        logger.opt(exception=exc).error("Stopping the run: {} failed: {}", doing, exc)
        if self.fatal is None:
            self.fatal = exc
        self.request_stop()

    async def _run_group(self, group: Group, stats: GroupStats) -> None:
        ceiling = min(self._settings.max_concurrency, group.max_concurrency or 1 << 30)
        gate = AdaptiveGate(ceiling, group.rate_per_minute, self._clock)
        self.gates[group.name] = gate
        pace = AllOf([gate.pacer, *self._limiters(group)])
        token_limits = self._token_limiters(group)
        tokens = AllOf(token_limits) if token_limits else None
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        room = asyncio.Semaphore(max(self._settings.read_ahead, 2 * self._settings.max_concurrency))
        outstanding = 0
        fed_all = False
        all_done = asyncio.Event()
        retry_timers: set[asyncio.Task[None]] = set()
        stopped: list[ProviderError] = []  # set once a hard quota error stops the group

        def settle() -> None:
            if fed_all and outstanding == 0:
                stats.finished = self._clock.monotonic()
                all_done.set()

        def finish(outcome: Outcome) -> None:
            nonlocal outstanding
            if outcome.ok:
                stats.ok += 1
            else:
                stats.error += 1
            try:
                self._sink(outcome)
            except Exception as exc:  # e.g. the disk is full: sending more would lose results
                self._fail(exc, "writing a result")
            outstanding -= 1
            room.release()
            self._on_change(stats)
            settle()

        async def feed() -> None:
            nonlocal outstanding, fed_all
            async for record in _aiter(group.records):
                await room.acquire()
                if self.stop_requested.is_set():
                    break
                outstanding += 1
                queue.put_nowait(_Item(record))
            fed_all = True
            settle()

        async def requeue_later(item: _Item, delay: float) -> None:
            await self._clock.sleep(delay)
            queue.put_nowait(item)

        def not_sent(item: _Item) -> None:
            stats.not_sent += 1
            error = ProviderError(f"not sent: {stopped[0]}", ErrorKind.QUOTA)
            finish(
                Outcome(item.record, group.name, item.attempts, error=error, error_kind="not_sent")
            )

        async def send(item: _Item) -> None:
            cost = self._estimate(item.record) if tokens is not None else 0.0
            if tokens is not None:
                await tokens.acquire(cost)
            await pace.acquire()
            for limiter in self._record_limiters(item.record):
                await limiter.acquire()
            if self.stop_requested.is_set():
                return  # stopped while waiting for a slot: unsent, a resume sends it
            outcome = await self._attempt(item, group.name, stats)
            if tokens is not None and outcome.completion is not None:
                used = _used_tokens(outcome.completion)
                if used is not None:
                    await tokens.adjust(used - cost)
            self._decide(item, outcome, gate, stats, stopped, finish, requeue_later, retry_timers)

        async def worker() -> None:
            while True:
                item = await queue.get()
                if stopped:
                    not_sent(item)
                    continue
                if self.stop_requested.is_set():
                    continue  # left unsent and unrecorded: a resume sends it
                await gate.enter()
                try:
                    await send(item)
                except Exception as exc:  # a limiter or the engine itself broke
                    self._fail(exc, "sending")
                finally:
                    await gate.leave()

        n_workers = max(1, self._settings.max_concurrency)
        tasks = [asyncio.create_task(worker()) for _ in range(n_workers)]
        feeder = asyncio.create_task(feed())
        stop_wait = asyncio.create_task(self.stop_requested.wait())
        try:
            await asyncio.wait(
                [asyncio.create_task(all_done.wait()), stop_wait],
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not all_done.is_set():
                # Stopping: let the requests on the wire finish (the caller bounds the wait);
                # workers still waiting for a slot are cancelled below, their prompts unsent.
                while stats.sending > 0:
                    await self._clock.sleep(0.05)
        finally:
            for task in [feeder, stop_wait, *tasks, *retry_timers]:
                task.cancel()
            await asyncio.gather(feeder, stop_wait, *tasks, *retry_timers, return_exceptions=True)

    def _decide(
        self,
        item: _Item,
        outcome: Outcome,
        gate: AdaptiveGate,
        stats: GroupStats,
        stopped: list[ProviderError],
        finish: Callable[[Outcome], None],
        requeue_later: Callable[[_Item, float], object],
        retry_timers: set[asyncio.Task[None]],
    ) -> None:
        """Record the outcome, or schedule another attempt."""
        error = outcome.error
        if error is None:
            gate.on_success()
            finish(outcome)
            return
        if error.status in (429, 529) and error.kind is ErrorKind.RETRYABLE:
            # "Too fast": once 429s dominate, the whole group pauses and slows down.
            gate.on_rate_limited(error.retry_after, error.quota_spent, error.limit_per_minute)
            self.timeline.gate(
                outcome.group, self._clock.monotonic(), gate.slowdowns, gate.paused_until
            )
            stats.slowdowns = gate.slowdowns
        else:
            gate.on_answer()
        if error.kind is ErrorKind.QUOTA and not stopped:
            stopped.append(error)
            logger.error("Group {}: hard quota error, sending stops: {}", outcome.group, error)
        retry = (
            error.kind is ErrorKind.RETRYABLE
            and item.attempts < self._settings.max_attempts
            and not self.stop_requested.is_set()
        )
        if not retry:
            finish(outcome)
            return
        delay = self._backoff.delay(item.attempts, error.retry_after)
        stats.retries += 1
        logger.debug(
            "{} attempt {} failed ({}); retrying in {:.2f} s",
            item.record.where,
            item.attempts,
            error,
            delay,
        )
        timer: asyncio.Task[None] = asyncio.create_task(requeue_later(item, delay))  # type: ignore[arg-type]
        retry_timers.add(timer)
        timer.add_done_callback(retry_timers.discard)

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
        outcome = Outcome(record, group, item.attempts, sent_at=self._clock.wall())
        stats.sending += 1
        self.timeline.sent(group, started)
        try:
            outcome.completion = await provider.complete(record)
        except ProviderError as exc:
            outcome.error = exc
            outcome.error_kind = exc.kind.value
        except Exception as exc:  # a bug in a provider must not end the run
            logger.opt(exception=exc).error("{}: unexpected error in provider", record.where)
            outcome.error = ProviderError(f"internal error: {type(exc).__name__}: {exc}")
            outcome.error_kind = "internal"
        finally:
            stats.sending -= 1
        outcome.received_at = self._clock.wall()
        outcome.latency_s = self._clock.monotonic() - started
        used = None if outcome.completion is None else _used_tokens(outcome.completion)
        self.timeline.finished(group, self._clock.monotonic(), attempt_kind(outcome.error), used)
        return outcome
