"""Batch mode's engine: prompts collected per (api, model), sent as provider batches.

A group's worker hands each prompt here after the cache seam (``GroupRun.send_in_batch``);
prompts gather in an open chunk per ``(api, model_name)``, cut by the adapter's limits
(count and bytes) or when no prompt has joined for a moment. Each chunk then goes through
the manifest (runner.batch.manifest) and the adapter: upload, submit, poll, results. Each
result goes back to its group as an outcome (``GroupRun.decide``): ok and fatal errors are
recorded through the run's writer, retryable ones and ids with no result line are sent
again (next batch, or online with ``batch_fallback=online``), under ``max_attempts``.
On resume, the batches the manifest says were (or may have been) submitted are reattached
before anything is sent; their prompts wait for those batches, never for new ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner.batch.adapter import BatchAdapter, ItemResult
from runner.batch.follow import Follower, Live
from runner.batch.manifest import Manifest
from runner.batch.progress import BatchProgress
from runner.batch.registry import batch_adapter, is_multi_turn
from runner.config.schema import RunConfig
from runner.cost.budget import Budget
from runner.cost.prices import PriceBook
from runner.cost.reserve import input_factor, reservation, shape_of
from runner.errors import ProviderError
from runner.limits.clock import Clock
from runner.output.results import Outcome
from runner.prompts.records import PromptRecord
from runner.providers.base import Provider

if TYPE_CHECKING:
    from runner.engine.group_run import GroupRun, _Item

# A chunk is sent once no prompt has joined it for this long (seconds): the feeder has
# given all it has for now, so waiting longer only delays the batch.
LINGER_S = 0.5


def custom_id(record: PromptRecord) -> str:
    """The id a prompt goes by in every batch: stable across resumes, [0-9a-f]{24}."""
    return hashlib.blake2b(record.key.encode(), digest_size=12).hexdigest()


@dataclass
class Waiting:
    """A prompt in a chunk or a batch, and the group its outcome goes back to."""

    group_run: GroupRun
    item: _Item
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


class BatchRun:
    """Batch mode for one run: see the module docstring.

    Args:
        providers: the run's providers (batch adapters use their keys and URLs).
        settings: ``batch_poll_s``, ``batch_deadline_s``, ``batch_fallback``, ...
        manifest: the run folder's ``batches.jsonl``.
        clock: time source.
        run_id: names each chunk's tag.
        fail: stops the run after an error no prompt can be blamed for (``Engine.fail``).
    """

    def __init__(
        self,
        providers: dict[str, Provider],
        settings: RunConfig,
        manifest: Manifest,
        clock: Clock,
        run_id: str,
        fail: Callable[[BaseException, str], None],
        budget: Budget | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        self.providers = providers
        self.settings = settings
        self.manifest = manifest
        self.clock = clock
        self.run_id = run_id
        self.fail = fail
        self.budget = budget
        self.prices = prices
        self.progress = BatchProgress()
        self.adapters: dict[str, BatchAdapter] = {}
        self.open: dict[tuple[str, str], _Open] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        # Resume: custom id -> the reattached batch that holds it, and results (or their
        # absence) that came back before their prompt was fed.
        self.attached: dict[str, Live] = {}
        self.settled: dict[str, ItemResult | ProviderError] = {}
        self.follower = Follower(self)

    # -- entry points ---------------------------------------------------------------------

    def read_ahead(self, base: int) -> int:
        """How many prompts a group may hold unanswered: a whole batch's worth at least."""
        largest = max((self.adapter(api).limits.max_requests for api in self.providers), default=0)
        return max(base, largest)

    def adapter(self, api: str) -> BatchAdapter:
        if api not in self.adapters:
            self.adapters[api] = batch_adapter(self.providers[api])
        return self.adapters[api]

    async def start(self) -> None:
        """Reattach to the batches a killed or stopped run left submitted (or maybe so)."""
        for chunk in self.manifest.open_chunks():
            await self.follower.reattach(chunk)

    def reserve(self, entries: Iterable[Waiting]) -> list[Waiting]:
        """Hold each prompt's estimated cost (at batch price) on the budget, in order.

        Returns the prompts that do not fit (and are not to be sent): the chunk sends
        what fits. A batch answers hours later, so nothing waits for room here.
        """
        budget, prices = self.budget, self.prices
        if budget is None or prices is None or budget.limit_usd is None:
            return []
        refused: list[Waiting] = []
        for w in entries:
            record = w.item.record
            tokens = self.providers[record.api].estimate_tokens(record)
            factor = input_factor(budget, shape_of(record))
            usd = reservation(prices, record, tokens, factor, batch=True)
            if refused or not budget.reserve(usd, w.group_run.budget_line):
                refused.append(w)
                continue
            w.reserved = usd
        return refused

    def settle(self, waiting: Waiting, actual: float | None) -> None:
        """Replace ``waiting``'s reservation by what its answer cost."""
        if self.budget is not None and waiting.reserved is not None:
            self.budget.settle(waiting.reserved, actual, waiting.group_run.budget_line)
            waiting.reserved = None

    def take(self, group_run: GroupRun, item: _Item) -> bool:
        """Send ``item`` in a batch (True), or leave it to the online path (False)."""
        record = item.record
        if item.online or is_multi_turn(record):
            return False  # a fallback, or a conversation: each turn needs the one before
        if item.attempts == 0:  # counted once, however often it is sent again
            self.progress.prompts += 1
        cid = custom_id(record)
        waiting = Waiting(group_run, item)
        live = self.attached.get(cid)
        if live is not None and (cid in self.settled or not live.finished):
            item.attempts = max(item.attempts, 1)  # it went in that batch, before the resume
            if cid in self.settled:  # its reattached batch already answered
                self.follower.deliver(waiting, self.settled.pop(cid), live)
            else:
                live.waiting[cid] = waiting
            return True
        try:
            waiting.line = self.adapter(record.api).request_line(record, cid)
        except ProviderError as exc:
            self.follower.deliver(waiting, exc, None)
            return True
        waiting.size = len(json.dumps(waiting.line, ensure_ascii=False).encode()) + 1
        self._add((record.api, record.model_name or ""), cid, waiting)
        return True

    async def close(self) -> None:
        """Stop following batches (a stop, or the end: what is left has no prompt waiting)."""
        for open_ in self.open.values():
            if open_.timer is not None:
                open_.timer.cancel()
        if self.progress.in_progress:
            logger.warning(
                "{} batch(es) still running at the provider: resume the run to collect them",
                self.progress.in_progress,
            )
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.manifest.close()

    # -- chunks ---------------------------------------------------------------------------

    def _add(self, key: tuple[str, str], cid: str, waiting: Waiting) -> None:
        open_ = self.open.setdefault(key, _Open())
        limits = self.adapter(key[0]).limits
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

    async def _linger(self, key: tuple[str, str], open_: _Open) -> None:
        while True:
            idle = self.clock.monotonic() - open_.last_add
            if idle >= LINGER_S:
                break
            await self.clock.sleep(LINGER_S - idle)
        if self.open.get(key) is open_:
            open_.timer = None  # this task is the one flushing: not to be cancelled
            self._flush(key)

    def _flush(self, key: tuple[str, str]) -> None:
        open_ = self.open.pop(key)
        if open_.timer is not None:
            open_.timer.cancel()
        if not open_.entries:
            return
        self.spawn(self.follower.send_chunk(key[0], key[1], open_.entries))

    def new_tag(self) -> str:
        """A chunk's tag: unique across runs and resumes (the manifest and the API keep it)."""
        return f"runner-{self.run_id}-{uuid.uuid4().hex[:12]}"

    def spawn(self, job: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:  # its prompts would wait for ever (a full disk, a bug): stop
            self.fail(exc, "following a batch")

    def outcome(self, waiting: Waiting, live: Live | None) -> Outcome:
        """A fresh outcome of ``waiting``'s prompt, from batch ``live``."""
        item = waiting.item
        return Outcome(
            item.record,
            waiting.group_run.group.name,
            item.attempts,
            sent_at=None if live is None else live.sent_at,
            received_at=self.clock.wall(),
            latency_s=None if live is None else self.clock.monotonic() - live.started,
            tag=item.tag,
            batch_id=None if live is None else live.batch_id,
        )

    def fallback_online(self) -> bool:
        return self.settings.batch_fallback == "online"
