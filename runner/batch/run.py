"""Batch mode's engine: prompts collected per (api, model), sent as provider batches.

A :class:`BatchRun` is a transport (runner.engine.transport) the engine asks right after
the cache (:func:`start_batch_run` mounts it); prompts gather in an open chunk per
``(api, model_name)`` (runner.batch.chunks), cut by the adapter's limits (count and bytes)
or when no prompt has joined for a moment. Each chunk then goes through
the manifest (runner.batch.manifest) and the adapter: upload, submit, poll, results. Each
result goes back to its group as an outcome (``GroupHandle.answer``): ok and fatal errors are
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
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner.batch.adapter import BatchAdapter, ItemResult
from runner.batch.chunks import Chunks, Waiting
from runner.batch.follow import Follower, Live
from runner.batch.manifest import Manifest
from runner.batch.progress import BatchProgress
from runner.batch.registry import batch_adapter, is_multi_turn
from runner.config.schema import RunConfig
from runner.cost.budget import Budget
from runner.cost.prices import PriceBook
from runner.cost.reserve import input_factor, reservation, shape_of
from runner.engine.transport import GroupHandle, WorkItem
from runner.errors import ProviderError
from runner.limits.clock import Clock
from runner.output.results import Outcome
from runner.prompts.records import PromptRecord
from runner.providers.base import Provider

if TYPE_CHECKING:
    from pathlib import Path

    from runner.engine.engine import Engine


def custom_id(record: PromptRecord) -> str:
    """The id a prompt goes by in every batch: stable across resumes, [0-9a-f]{24}."""
    return hashlib.blake2b(record.key.encode(), digest_size=12).hexdigest()


class BatchRun:
    """Batch mode for one run, a transport: see the module docstring.

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
        self.chunks = Chunks(
            clock,
            lambda api: self.adapter(api).limits,
            lambda api, model, entries: self.spawn(self.follower.send_chunk(api, model, entries)),
        )
        self.tasks: set[asyncio.Task[None]] = set()
        # Resume: custom id -> the reattached batch that holds it, and results (or their
        # absence) that came back before their prompt was fed.
        self.attached: dict[str, Live] = {}
        self.settled: dict[str, ItemResult | ProviderError] = {}
        self.follower = Follower(self)

    # Not metered: each chunk holds its budget at batch price (reserve), and a provider's
    # batch quota is its own; the group's request and token limits are for online sends.
    metered = False

    # -- entry points ---------------------------------------------------------------------

    def read_ahead(self) -> int:
        """How many prompts a group may hold unanswered: a whole batch's worth."""
        return max((self.adapter(api).limits.max_requests for api in self.providers), default=0)

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
            if refused or not budget.reserve(usd, w.group.budget_line):
                refused.append(w)
                continue
            w.reserved = usd
        return refused

    def settle(self, waiting: Waiting, actual: float | None) -> None:
        """Replace ``waiting``'s reservation by what its answer cost."""
        if self.budget is not None and waiting.reserved is not None:
            self.budget.settle(waiting.reserved, actual, waiting.group.budget_line)
            waiting.reserved = None

    def takes(self, item: WorkItem) -> bool:
        """Whether ``item`` goes in a batch: not a fallback, nor a conversation (each turn
        needs the one before)."""
        return not item.online and not is_multi_turn(item.record)

    async def send(self, item: WorkItem, group: GroupHandle) -> None:
        """Put ``item`` in a chunk (or wait for its reattached batch); it answers later."""
        record = item.record
        if item.attempts == 0:  # counted once, however often it is sent again
            self.progress.prompts += 1
        cid = custom_id(record)
        waiting = Waiting(group, item)
        live = self.attached.get(cid)
        if live is not None and (cid in self.settled or not live.finished):
            item.attempts = max(item.attempts, 1)  # it went in that batch, before the resume
            if cid in self.settled:  # its reattached batch already answered
                self.follower.deliver(waiting, self.settled.pop(cid), live)
            else:
                live.waiting[cid] = waiting
            return
        try:
            waiting.line = self.adapter(record.api).request_line(record, cid)
        except ProviderError as exc:
            self.follower.deliver(waiting, exc, None)
            return
        waiting.size = len(json.dumps(waiting.line, ensure_ascii=False).encode()) + 1
        self.chunks.add((record.api, record.model_name or ""), cid, waiting)

    async def close(self) -> None:
        """Stop following batches (a stop, or the end: what is left has no prompt waiting)."""
        self.chunks.close()
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
            waiting.group.name,
            item.attempts,
            sent_at=None if live is None else live.sent_at,
            received_at=self.clock.wall(),
            latency_s=None if live is None else self.clock.monotonic() - live.started,
            tag=item.tag,
            batch_id=None if live is None else live.batch_id,
        )

    def fallback_online(self) -> bool:
        return self.settings.batch_fallback == "online"


async def start_batch_run(
    engine: Engine,
    providers: dict[str, Provider],
    settings: RunConfig,
    clock: Clock,
    folder: Path,
    run_id: str,
    experiment: str,
) -> BatchRun:
    """Batch mode on ``engine``: a batch run mounted as its first transport, reattached to
    what a resumed run submitted; its manifest in ``folder``. Close it after the run."""
    batches = BatchRun(
        providers,
        settings,
        Manifest(folder, run_id, experiment),
        clock,
        run_id,
        engine.fail,
        budget=engine.budget,
        prices=engine.prices,
    )
    # A group holds a whole batch's prompts unanswered (they answer together).
    engine.mount(batches, read_ahead=batches.read_ahead())
    try:
        await batches.start()
    except BaseException:
        await batches.close()
        raise
    return batches
