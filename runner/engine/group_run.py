"""One group's sending loop: a feeder, workers, retries, and the decision on each outcome.

Inside a group, workers take prompts from a queue fed lazily from the group's records,
wait for the group's slot (concurrency cap, pause, request and token limits), and send. A
retryable failure puts the prompt back on the queue after its backoff while the workers go
on with the others (no retry rounds); retries take tokens like any request. A stop request
ends sending: queued prompts stay unsent (a resume sends them), requests in flight finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner.cost.budget import budget_line, over_budget
from runner.cost.reserve import Hold, hold
from runner.engine.structured import INVALID_OUTPUT, add_refused, check_output, refused_attempt
from runner.errors import ErrorKind, ProviderError
from runner.limits.adaptive import AdaptiveGate
from runner.limits.limiter import AllOf
from runner.limits.quota import TokenEstimate
from runner.output.results import Outcome
from runner.output.stats import GroupStats
from runner.prompts.grouping import Group, Records, Tagged
from runner.prompts.records import PromptRecord

if TYPE_CHECKING:
    from runner.cache.cache import Claim
    from runner.engine.engine import Engine


@dataclass
class _Item:
    record: PromptRecord
    tag: Any = None
    attempts: int = 0
    cache_claim: Claim | None = None  # set at its first send when the cache is on
    online: bool = False  # batch mode: send this one online (batch_fallback=online)
    # output_schema: earlier attempts whose answers were refused (see engine.structured).
    refused: list[dict[str, Any]] | None = None


async def _items(
    records: Records,
) -> AsyncIterator[_Item]:
    """A group's records, whether a list, a lazy file reader, or fed as results arrive."""

    def item(entry: PromptRecord | Tagged) -> _Item:
        return _Item(entry.record, entry.tag) if isinstance(entry, Tagged) else _Item(entry)

    if isinstance(records, AsyncIterable):
        async for entry in records:
            yield item(entry)
    else:
        for entry in records:
            yield item(entry)


class _Room:
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


class GroupRun:
    """Runs one group to its end (or a stop) for ``engine``; see the module docstring."""

    def __init__(self, engine: Engine, group: Group, stats: GroupStats) -> None:
        self.engine = engine
        self.group = group
        self.stats = stats
        settings = engine.settings
        ceiling = min(settings.max_concurrency, group.max_concurrency or 1 << 30)
        self.gate = AdaptiveGate(ceiling, group.rate_per_minute, engine.clock)
        self.pace = AllOf([self.gate.pacer, *engine.limits.requests(group)])
        self.metered = engine.limits.tokens(group)
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.room = _Room(max(settings.read_ahead, 2 * settings.max_concurrency))
        self.outstanding = 0
        self.fed_all = False
        self.all_done = asyncio.Event()
        # Set when the group is done or the engine stops: one waiter, no task of its own.
        self.wake = asyncio.Event()
        self.retry_timers: set[asyncio.Task[None]] = set()
        self.quota_error: ProviderError | None = None  # set once a hard quota stops the group
        self.budget_line = budget_line(group.name)

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        engine = self.engine
        tasks = [asyncio.create_task(self.worker()) for _ in range(self.workers_needed())]
        feeder: asyncio.Task[None] | None = None
        if self.fits_in_room():
            self.feed_now()  # a small group: no feeder task (100,000 groups, 100,000 fewer)
        else:
            feeder = asyncio.create_task(self.feed())
        if engine.stop_requested.is_set():
            self.wake.set()
        try:
            await self.wake.wait()
            if not self.all_done.is_set():
                # Stopping: let the requests on the wire finish (the caller bounds the wait);
                # workers still waiting for a slot are cancelled below, their prompts unsent.
                while self.stats.sending > 0:
                    await engine.clock.sleep(0.05)
        finally:
            pending = [*([feeder] if feeder else []), *tasks, *self.retry_timers]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def workers_needed(self) -> int:
        """As many workers as requests may be in flight, but no more than prompts."""
        ceiling = max(1, self.engine.settings.max_concurrency)
        total = self.group.total
        return min(ceiling, total) if total > 0 else ceiling if total < 0 else 1

    def fits_in_room(self) -> bool:
        """Whether every record can be queued at once (a list or a plan's reader, known size)."""
        return not isinstance(self.group.records, AsyncIterable) and (
            0 <= self.group.total <= self.room.free
        )

    def feed_now(self) -> None:
        """Queue every record now (see :meth:`fits_in_room`)."""
        assert not isinstance(self.group.records, AsyncIterable)
        for entry in self.group.records:
            item = _Item(entry.record, entry.tag) if isinstance(entry, Tagged) else _Item(entry)
            self.room.free -= 1
            self.outstanding += 1
            self.queue.put_nowait(item)
        self.fed_all = True
        self.settle()

    async def feed(self) -> None:
        async for item in _items(self.group.records):
            await self.room.take()
            if self.engine.stop_requested.is_set():
                break
            self.outstanding += 1
            self.queue.put_nowait(item)
        self.fed_all = True
        self.settle()

    async def worker(self) -> None:
        engine = self.engine
        while True:
            item = await self.queue.get()
            refused = self.unsendable(item)
            if refused is not None:
                self.not_sent(item, refused)
                continue
            if engine.stop_requested.is_set():
                continue  # left unsent and unrecorded: a resume sends it
            await self.gate.enter()
            try:
                await self.send(item)
            except Exception as exc:  # a limiter or the engine itself broke
                engine.fail(exc, "sending")
            finally:
                self.release_cache(item)
                await self.gate.leave()

    # -- one request ---------------------------------------------------------------------

    async def answer_from_cache(self, item: _Item) -> Outcome | None:
        """The response cache, asked once per prompt before anything else (no limit taken).

        A hit (or, with ``cache=only``, a miss) is the outcome; None: send it. An identical
        request already in flight in this process is waited for, not sent again.
        """
        cache = self.engine.cache
        if cache is None or item.cache_claim is not None:  # off, or a retry
            return None
        item.cache_claim = cache.claim(item.record, self.engine.providers[item.record.api])
        known = await cache.answer(item.cache_claim, item.record, self.group.name, item.tag)
        if known is not None:
            check_output(known)  # only valid answers are cached: this parses it again
        return known

    def remember_in_cache(self, item: _Item, outcome: Outcome) -> None:
        """After an attempt: a success goes into the cache; waiters for it are told."""
        if self.engine.cache is not None and item.cache_claim is not None:
            self.engine.cache.remember(item.cache_claim, outcome)

    def release_cache(self, item: _Item) -> None:
        """The prompt was not answered (stopped, refused): waiters for it send their own."""
        if self.engine.cache is not None and item.cache_claim is not None:
            self.engine.cache.release(item.cache_claim)

    def send_in_batch(self, item: _Item) -> bool:
        """Batch mode: hand ``item`` to the engine's batch run, which decides it later.

        Batch prompts take no request or token limit (a provider's batch quota is its own);
        the batch run calls :meth:`decide` with each result, as an online attempt would.
        """
        batches = self.engine.batches
        return batches is not None and batches.take(self, item)

    async def send(self, item: _Item) -> None:
        engine = self.engine
        known = await self.answer_from_cache(item)
        if known is not None:
            self.finish(known)
            return
        if self.send_in_batch(item):  # its budget is held at batch price by the batch run
            return
        budget = engine.budget
        # No cap: nothing to estimate or wait for, on the request path of most runs.
        held = (
            Hold(budget, self.budget_line) if budget.limit_usd is None else await self.reserve(item)
        )
        if held is None:
            if not engine.stop_requested.is_set():
                self.not_sent(item, over_budget(engine.budget.limit_usd))
            return  # stopped while waiting for room: unsent, a resume sends it
        estimator = engine.limits.estimator
        estimate = estimator(item.record) if self.metered and estimator else None
        await self.charge(estimate)
        await self.pace.acquire()
        for limiter in engine.limits.per_record(item.record):
            await limiter.acquire()
        if engine.stop_requested.is_set():
            held.release()  # nothing was spent
            return  # stopped while waiting for a slot: unsent, a resume sends it
        refused = self.unsendable(item)
        if refused is not None:  # refused while this prompt waited for its slot
            held.release()
            self.not_sent(item, refused)
            return
        item.attempts += 1
        outcome = await engine.attempt(item.record, item.tag, item.attempts, self.stats)
        self.remember_in_cache(item, outcome)
        if estimate is not None:
            # Billed counts, as the provider's limits count them (Anthropic: no cache reads).
            usage = (
                None
                if outcome.completion is None
                else engine.providers[item.record.api].limit_usage(
                    outcome.completion, item.record.model_name
                )
            )
            for limit in self.metered:
                await limit.settle(estimate, usage)
        # Before deciding: a retry's own reservation must see this answer's real cost.
        # Priced once (deliver reuses it).
        outcome.cost_usd, outcome.priced = engine.prices.outcome_cost(outcome), True
        held.settle(outcome)
        self.decide(item, outcome)

    async def reserve(self, item: _Item) -> Hold | None:
        """Budget, after the cache and before the limits: hold the request's cost.

        Waits while answers in flight may free room; None: refused (or stopped meanwhile).
        """
        engine = self.engine
        provider = engine.providers[item.record.api]
        return await hold(
            engine.budget,
            engine.prices,
            item.record,
            lambda: provider.estimate_tokens(item.record),
            self.budget_line,
            engine.stop_requested.is_set,
        )

    async def charge(self, estimate: TokenEstimate | None) -> None:
        """Take the request's estimated tokens from each token limit of the group."""
        if estimate is not None:
            for limit in self.metered:
                await limit.charge(estimate)

    def unsendable(self, item: _Item) -> ProviderError | None:
        """Why ``item`` must not be sent: a hard quota, a refused key, the budget reached."""
        if self.engine.budget.exhausted:
            return over_budget(self.engine.budget.limit_usd)
        if self.quota_error is not None:
            return ProviderError(f"not sent: {self.quota_error}", ErrorKind.QUOTA)
        return self.engine.rejections.blocked(item.record)

    def decide(self, item: _Item, outcome: Outcome) -> None:
        """Record the outcome, or schedule another attempt."""
        error = outcome.error
        if error is None:
            self.gate.on_success()
            add_refused(outcome, item.refused)
            self.finish(outcome)
            return
        if error.status in (429, 529) and error.kind is ErrorKind.RETRYABLE:
            # "Too fast": once 429s dominate, the whole group pauses and slows down.
            self.gate.on_rate_limited(error.retry_after, error.quota_spent, error.limit_per_minute)
            self.stats.slowdowns = self.gate.slowdowns
            self.engine.slowed(self.group.name, self.gate)
        else:
            self.gate.on_answer()
        self.engine.rejections.note(item.record, error)
        if error.kind is ErrorKind.QUOTA and self.quota_error is None:
            self.quota_error = error
            logger.error("Group {}: hard quota error, sending stops: {}", outcome.group, error)
        engine = self.engine
        retry = (
            error.kind is ErrorKind.RETRYABLE
            and item.attempts < engine.settings.max_attempts
            and not engine.stop_requested.is_set()
        )
        if not retry:
            add_refused(outcome, item.refused)
            self.finish(outcome)
            return
        if outcome.error_kind == INVALID_OUTPUT:  # asked again at once: the server is fine
            item.refused = [*(item.refused or ()), refused_attempt(outcome)]
            delay = 0.0
        else:
            delay = engine.backoff.delay(item.attempts, error.retry_after)
        self.stats.retries += 1
        logger.debug(
            "{} attempt {} failed ({}); retrying in {:.2f} s",
            item.record.where,
            item.attempts,
            error,
            delay,
        )
        timer = asyncio.create_task(self.requeue_later(item, delay))
        self.retry_timers.add(timer)
        timer.add_done_callback(self.retry_timers.discard)

    async def requeue_later(self, item: _Item, delay: float) -> None:
        await self.engine.clock.sleep(delay)
        self.queue.put_nowait(item)

    # -- bookkeeping ---------------------------------------------------------------------

    def not_sent(self, item: _Item, error: ProviderError) -> None:
        self.stats.not_sent += 1
        kind = "not_sent"
        if error.kind is ErrorKind.BUDGET:
            kind = ErrorKind.BUDGET.value
            self.engine.budget.refuse(self.budget_line)
        self.finish(
            Outcome(
                item.record,
                self.group.name,
                item.attempts,
                error=error,
                error_kind=kind,
                tag=item.tag,
            )
        )

    def finish(self, outcome: Outcome) -> None:
        """An outcome is final: count it, hand it to the sink, free its room."""
        stats = self.stats
        if outcome.ok:
            stats.ok += 1
        else:
            stats.error += 1
        self.engine.deliver(outcome)
        self.outstanding -= 1
        self.room.give_back()
        self.engine.on_change(stats)
        self.settle()

    def settle(self) -> None:
        if self.fed_all and self.outstanding == 0:
            self.stats.finished = self.engine.clock.monotonic()
            self.all_done.set()
            self.wake.set()
