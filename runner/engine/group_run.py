"""One group's sending loop: a feeder, workers, retries, and the decision on each outcome.

Inside a group, workers take prompts from a queue fed lazily from the group's records and
send each one way (:meth:`GroupRun.send`): the response cache, the budget, the limits
(concurrency cap, pause, request and token limits), then a transport (online, or a
provider batch; see runner.engine.transport). A retryable failure puts the prompt back on
the queue after its backoff while the workers go on with the others (no retry rounds);
retries take tokens like any request. A stop request ends sending: queued prompts stay
unsent (a resume sends them), requests in flight finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING

from loguru import logger

from runner.cost.budget import over_budget
from runner.cost.reserve import Hold
from runner.engine.feeding import Room, work_item, work_items
from runner.engine.meter import GroupMeter
from runner.engine.structured import INVALID_OUTPUT, add_refused, refused_attempt
from runner.engine.transport import GroupHandle, WorkItem
from runner.errors import ErrorKind, ProviderError
from runner.limits.adaptive import AdaptiveGate
from runner.output.results import Outcome
from runner.output.stats import GroupStats
from runner.prompts.grouping import Group

if TYPE_CHECKING:
    from runner.engine.shared import Shared


class GroupRun:
    """Runs one group to its end (or a stop) with what the engine's groups ``shared``."""

    def __init__(self, shared: Shared, group: Group, stats: GroupStats) -> None:
        self.shared = shared
        self.group = group
        self.stats = stats
        settings = shared.settings
        ceiling = min(settings.max_concurrency, group.max_concurrency or 1 << 30)
        self.gate = AdaptiveGate(ceiling, group.rate_per_minute, shared.clock)
        self.meter = GroupMeter(shared, group, self.gate)
        self.queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        self.room = Room(max(settings.read_ahead, 2 * settings.max_concurrency))
        self.outstanding = 0
        self.fed_all = False
        self.all_done = asyncio.Event()
        # Set when the group is done or the engine stops: one waiter, no task of its own.
        self.wake = asyncio.Event()
        self.retry_timers: set[asyncio.Task[None]] = set()
        self.quota_error: ProviderError | None = None  # set once a hard quota stops the group
        # All a transport sees of this group.
        self.handle = GroupHandle(
            group.name, stats, self.meter.budget_line, self.answered, self.not_sent
        )

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.worker()) for _ in range(self.workers_needed())]
        feeder: asyncio.Task[None] | None = None
        if self.fits_in_room():
            self.feed_now()  # a small group: no feeder task (100,000 groups, 100,000 fewer)
        else:
            feeder = asyncio.create_task(self.feed())
        if self.shared.stop.is_set():
            self.wake.set()
        try:
            await self.wake.wait()
            if not self.all_done.is_set():
                # Stopping: let the requests on the wire finish (the caller bounds the wait);
                # workers still waiting for a slot are cancelled below, their prompts unsent.
                while self.stats.sending > 0:
                    await self.shared.clock.sleep(0.05)
        finally:
            pending = [*([feeder] if feeder else []), *tasks, *self.retry_timers]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def workers_needed(self) -> int:
        """As many workers as requests may be in flight, but no more than prompts."""
        ceiling = max(1, self.shared.settings.max_concurrency)
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
            self.room.free -= 1
            self.outstanding += 1
            self.queue.put_nowait(work_item(entry))
        self.fed_all = True
        self.settle()

    async def feed(self) -> None:
        async for item in work_items(self.group.records):
            await self.room.take()
            if self.shared.stop.is_set():
                break
            self.outstanding += 1
            self.queue.put_nowait(item)
        self.fed_all = True
        self.settle()

    async def worker(self) -> None:
        shared = self.shared
        while True:
            item = await self.queue.get()
            refused = self.unsendable(item)
            if refused is not None:
                self.not_sent(item, refused)
                continue
            if shared.stop.is_set():
                continue  # left unsent and unrecorded: a resume sends it
            await self.gate.enter()
            try:
                await self.send(item)
            except Exception as exc:  # a limiter or the engine itself broke
                shared.fail(exc, "sending")
            finally:
                self.shared.cache.release(item)
                await self.gate.leave()

    # -- one prompt's way down -----------------------------------------------------------

    async def send(self, item: WorkItem) -> None:
        """Cache -> budget -> limits -> transport, then the decision on the outcome.

        A transport that is not metered (a batch) takes the prompt right after the cache:
        it holds budget per chunk at batch price, its quota is the provider's own, and the
        outcome comes back later through the group's handle (:meth:`answered`).
        """
        known = await self.shared.cache.answer(item, self.group.name)
        if known is not None:
            self.finish(known)
            return
        transport = self.shared.transport_for(item)
        if not transport.metered:
            await transport.send(item, self.handle)
            return
        meter, record, budget = self.meter, item.record, self.shared.budget
        # No cap: nothing to estimate or wait for, on the request path of most runs.
        held = (
            Hold(budget, meter.budget_line)
            if budget.limit_usd is None
            else await meter.hold_budget(record)
        )
        if held is None:
            if not self.shared.stop.is_set():
                self.not_sent(item, over_budget(budget.limit_usd))
            return  # stopped while waiting for room: unsent, a resume sends it
        estimate = await meter.take_limits(record)
        if not self.still_sendable(item, held):
            return
        outcome = await transport.send(item, self.handle)
        assert outcome is not None, "a metered transport answers at once"
        self.shared.cache.remember(item, outcome)
        if estimate is not None:
            await meter.settle_tokens(record, outcome, estimate)
        meter.settle_cost(outcome, held)
        self.decide(item, outcome)

    def still_sendable(self, item: WorkItem, held: Hold) -> bool:
        """After the wait for the limits: False (its hold freed) if stopped or refused meanwhile."""
        if self.shared.stop.is_set():
            held.release()  # nothing was spent
            return False  # unsent, a resume sends it
        refused = self.unsendable(item)
        if refused is not None:  # refused while this prompt waited for its slot
            held.release()
            self.not_sent(item, refused)
            return False
        return True

    def unsendable(self, item: WorkItem) -> ProviderError | None:
        """Why ``item`` must not be sent: a hard quota, a refused key, the budget reached."""
        if self.shared.budget.exhausted:
            return over_budget(self.shared.budget.limit_usd)
        if self.quota_error is not None:
            return ProviderError(f"not sent: {self.quota_error}", ErrorKind.QUOTA)
        return self.shared.rejections.blocked(item.record)

    # -- the decision --------------------------------------------------------------------

    def answered(self, item: WorkItem, outcome: Outcome) -> None:
        """An outcome a transport gave later (a batch's): cached if a success, then decided."""
        self.shared.cache.remember(item, outcome)
        self.decide(item, outcome)

    def decide(self, item: WorkItem, outcome: Outcome) -> None:
        """Record the outcome, or schedule another attempt."""
        error = outcome.error
        if error is None:
            self.gate.on_success()
            add_refused(outcome, item.refused, item.billed_usd)
            self.finish(outcome)
            return
        if error.status in (429, 529) and error.kind is ErrorKind.RETRYABLE:
            # "Too fast": once 429s dominate, the whole group pauses and slows down.
            self.gate.on_rate_limited(error.retry_after, error.quota_spent, error.limit_per_minute)
            self.stats.slowdowns = self.gate.slowdowns
            for observer in self.shared.observers:
                observer.on_slowdown(self.group.name, self.gate)
        else:
            self.gate.on_answer()
        self.shared.rejections.note(item.record, error)
        if error.kind is ErrorKind.QUOTA and self.quota_error is None:
            self.quota_error = error
            logger.error("Group {}: hard quota error, sending stops: {}", outcome.group, error)
        retry = (
            error.kind is ErrorKind.RETRYABLE
            and item.attempts < self.shared.settings.max_attempts
            and not self.shared.stop.is_set()
        )
        if not retry:
            add_refused(outcome, item.refused, item.billed_usd)
            self.finish(outcome)
            return
        self.retry(item, outcome, error)

    def retry(self, item: WorkItem, outcome: Outcome, error: ProviderError) -> None:
        """Put ``item`` back on the queue after its backoff (at once for an invalid answer)."""
        if outcome.error_kind == INVALID_OUTPUT:  # asked again at once: the server is fine
            item.refused = [*(item.refused or ()), refused_attempt(outcome)]
            delay = 0.0
        else:  # a conversation's turns answered before it failed are on the bill
            item.billed_usd += outcome.cost_usd or 0.0
            delay = self.shared.backoff.delay(item.attempts, error.retry_after)
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

    async def requeue_later(self, item: WorkItem, delay: float) -> None:
        await self.shared.clock.sleep(delay)
        self.queue.put_nowait(item)

    # -- bookkeeping ---------------------------------------------------------------------

    def not_sent(self, item: WorkItem, error: ProviderError) -> None:
        self.stats.not_sent += 1
        kind = "not_sent"
        if error.kind is ErrorKind.BUDGET:
            kind = ErrorKind.BUDGET.value
            self.shared.budget.refuse(self.meter.budget_line)
        self.finish(
            Outcome(
                item.record,
                self.group.name,
                item.attempts,
                error=error,
                error_kind=kind,
                tag=item.tag,
                cost_usd=item.billed_usd,
                priced=True,
            )
        )

    def finish(self, outcome: Outcome) -> None:
        """An outcome is final: count it, hand it to the sink, free its room."""
        stats = self.stats
        if outcome.ok:
            stats.ok += 1
        else:
            stats.error += 1
        self.shared.deliver(outcome)
        self.outstanding -= 1
        self.room.give_back()
        self.shared.on_change(stats)
        self.settle()

    def settle(self) -> None:
        if self.fed_all and self.outstanding == 0:
            self.stats.finished = self.shared.clock.monotonic()
            self.all_done.set()
            self.wake.set()
