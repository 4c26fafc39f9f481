"""One batch's life after its chunk is cut: upload, submit, poll, results, requeue.

Every step is written to the manifest before it is taken (and the batch id after), so a
kill at any point leaves a resumable record. API calls that fail in a retryable way are
tried again with backoff; a poll that fails is tolerated (the batch runs on without us).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner.batch.adapter import BatchAdapter, BatchState, BatchStatus, ItemResult
from runner.batch.calls import CALL_TRIES, Calls, poll
from runner.batch.in_doubt import find_in_doubt
from runner.batch.manifest import ChunkState
from runner.batch.requests import SHAPE_ERRORS
from runner.cost.budget import over_budget
from runner.engine.structured import check_output
from runner.errors import ErrorKind, ProviderError

if TYPE_CHECKING:
    from datetime import datetime

    from runner.batch.chunks import Waiting
    from runner.batch.run import BatchRun

# Fatal poll answers (a batch the API no longer knows) tolerated before giving up on it.
FATAL_POLLS = 3


@dataclass
class Live:
    """A submitted batch being followed."""

    tag: str
    api: str
    model_name: str
    batch_id: str | None = None
    waiting: dict[str, Waiting] = field(default_factory=dict)
    ids: frozenset[str] = frozenset()  # a reattached batch's custom ids (all, claimed or not)
    sent_at: datetime | None = None
    started: float = 0.0  # monotonic, when submitted (or reattached)
    submitted_wall: float = 0.0  # epoch seconds: the deadline counts from here
    finished: bool = False
    deadline_hit: bool = False


class Follower:
    """The steps of every batch of one :class:`BatchRun`."""

    def __init__(self, run: BatchRun) -> None:
        self.run = run
        self.calls = Calls(run.clock, run.settings)

    # -- a new chunk ----------------------------------------------------------------------

    async def send_chunk(self, api: str, model_name: str, entries: dict[str, Waiting]) -> None:
        run = self.run
        left_out = run.reserve(entries.values())  # the chunk sends what fits
        if left_out:
            refused = over_budget(run.budget.limit_usd if run.budget else None)
            for w in left_out:
                w.group.refuse(w.item, refused)
            entries = {cid: w for cid, w in entries.items() if w.reserved is not None}
            if not entries:
                return
        adapter = run.adapter(api)
        tag = run.new_tag()
        manifest = run.manifest
        manifest.append(
            {
                "event": "chunk",
                "tag": tag,
                "api": api,
                "model_name": model_name,
                "custom_ids": list(entries),
            }
        )
        live = Live(tag, api, model_name, waiting=dict(entries))
        for w in entries.values():
            w.group.sent(w.item)
        lines = [w.line for w in entries.values()]
        try:
            ref = await self.calls.call(lambda: adapter.upload(model_name, lines), "upload")
            manifest.append({"event": "uploaded", "tag": tag, "input_ref": ref})
            manifest.append({"event": "submitting", "tag": tag})
            batch_id = await self.submit(adapter, model_name, lines, ref, tag)
        except ProviderError as exc:
            manifest.append({"event": "abandoned", "tag": tag, "error": str(exc)})
            logger.error("batch mode: {}/{}: the batch was not created: {}", api, model_name, exc)
            for w in live.waiting.values():
                self.deliver(w, exc, None)
            return
        manifest.append({"event": "submitted", "tag": tag, "batch_id": batch_id})
        self._began(live, batch_id)
        await self.follow(live)

    async def submit(
        self,
        adapter: BatchAdapter,
        model_name: str,
        lines: list[dict[str, Any]],
        ref: str | None,
        tag: str,
    ) -> str:
        """Create the batch; after an answer lost on the way, look it up before retrying."""
        for attempt in range(1, CALL_TRIES + 1):
            sent_at = self.run.clock.wall().timestamp()
            try:
                return await adapter.submit(model_name, lines, ref, tag)
            except ProviderError as exc:
                if exc.kind is not ErrorKind.RETRYABLE:
                    raise
                found = None
                if exc.status is None or exc.status < 300:  # answer lost or unreadable
                    found = await find_in_doubt(self.calls, adapter, model_name, tag, sent_at)
                elif exc.status >= 500:  # it may have been created
                    found = await self.calls.call(lambda: adapter.find(model_name, tag), "find")
                if found is not None:
                    return found
                if attempt == CALL_TRIES:  # and surely not made: the chunk is abandoned
                    raise
                await self.run.clock.sleep(self.calls.pause(attempt, exc))
        raise AssertionError("unreachable")

    def _began(self, live: Live, batch_id: str, how: str = "submitted") -> None:
        run = self.run
        live.batch_id = batch_id
        live.sent_at = run.clock.wall()
        live.started = run.clock.monotonic()
        live.submitted_wall = live.sent_at.timestamp()
        run.progress.submitted += 1
        run.progress.in_progress += 1
        run.progress.changed(f"{live.api}/{live.model_name} batch {batch_id} {how}")

    # -- a batch from before (resume) -----------------------------------------------------

    async def reattach(self, chunk: ChunkState) -> None:
        """Follow a batch the manifest says was (or may have been) submitted."""
        run = self.run
        adapter = run.adapter(chunk.api)
        batch_id = chunk.batch_id
        if batch_id is None:  # killed between submit and its answer: did it get there?
            sent_at = chunk.submitting_at or 0.0
            batch_id = await find_in_doubt(
                self.calls, adapter, chunk.model_name, chunk.tag, sent_at
            )
            if batch_id is None:
                run.manifest.append({"event": "abandoned", "tag": chunk.tag, "error": "not found"})
                return
            run.manifest.append({"event": "submitted", "tag": chunk.tag, "batch_id": batch_id})
        live = Live(chunk.tag, chunk.api, chunk.model_name, ids=frozenset(chunk.custom_ids))
        for cid in chunk.custom_ids:
            run.attached[cid] = live
        self._began(live, batch_id, f"reattached, {len(live.ids):,} prompts")
        if chunk.submitted_at:  # the deadline counts from the first submit, not the resume
            live.submitted_wall = chunk.submitted_at
        run.spawn(self.follow(live))

    # -- following ------------------------------------------------------------------------

    async def follow(self, live: Live) -> None:
        state = await self.wait_end(live)
        run = self.run
        run.manifest.append({"event": "ended", "tag": live.tag, "status": state.status.value})
        answered = await self.collect(live)
        detail = state.detail or state.status.value
        for cid in (live.ids or frozenset(live.waiting)) - answered:
            missing = ProviderError(
                f"batch {live.batch_id} ({detail}) returned no result for this prompt",
                ErrorKind.RETRYABLE,
            )
            self.settle(live, cid, missing)
        live.finished = True
        run.manifest.append({"event": "done", "tag": live.tag})
        run.progress.in_progress -= 1
        run.progress.done += 1
        run.progress.changed(f"batch {live.batch_id} {detail}")

    async def wait_end(self, live: Live) -> BatchState:
        """Poll until the batch ends; past ``batch_deadline_s``, cancel it (once)."""
        run = self.run
        adapter = run.adapter(live.api)
        settings = run.settings
        batch_id = live.batch_id
        assert batch_id is not None
        failures = fatal = 0
        while True:
            deadline = settings.batch_deadline_s
            age = run.clock.wall().timestamp() - live.submitted_wall
            if deadline and not live.deadline_hit and age >= deadline:
                live.deadline_hit = True
                logger.warning("batch mode: batch {} passed batch_deadline_s", live.batch_id)
                await self.calls.quietly(lambda: adapter.cancel(live.model_name, batch_id))
            try:
                state = await poll(adapter, live.model_name, batch_id)
            except ProviderError as exc:
                failures += 1
                fatal += exc.kind is not ErrorKind.RETRYABLE
                logger.debug("batch mode: polling {} failed ({}): {}", live.batch_id, failures, exc)
                if fatal >= FATAL_POLLS:
                    return BatchState(BatchStatus.FAILED, detail=f"poll failed: {exc}")
                await run.clock.sleep(self.calls.pause(failures, exc, settings.batch_poll_s))
                continue
            failures = 0
            if state.status is not BatchStatus.IN_PROGRESS:
                return state
            await run.clock.sleep(settings.batch_poll_s)

    async def collect(self, live: Live) -> set[str]:
        """Read every result of an ended batch; the custom ids answered."""
        adapter = self.run.adapter(live.api)
        assert live.batch_id is not None
        answered: set[str] = set()
        for attempt in range(1, CALL_TRIES + 1):
            try:
                try:
                    async for item in adapter.results(live.model_name, live.batch_id):
                        if item.custom_id not in answered:
                            answered.add(item.custom_id)
                            self.settle(live, item.custom_id, item)
                except SHAPE_ERRORS as exc:  # the file as a whole is of another shape
                    raise ProviderError(
                        f"the results are not of the documented shape: {exc}", ErrorKind.RETRYABLE
                    ) from None
                return answered
            except ProviderError as exc:
                if exc.kind is not ErrorKind.RETRYABLE or attempt == CALL_TRIES:
                    logger.error("batch mode: reading batch {} failed: {}", live.batch_id, exc)
                    return answered
                await self.run.clock.sleep(self.calls.pause(attempt, exc))
        return answered

    def settle(self, live: Live, cid: str, result: ItemResult | ProviderError) -> None:
        """Give a prompt its result, or keep it until the prompt is fed (resume)."""
        waiting = live.waiting.pop(cid, None)
        if waiting is not None:
            self.deliver(waiting, result, live)
        elif cid in live.ids:
            self.run.settled[cid] = result
        else:
            logger.warning(
                "batch mode: batch {} gave a result for custom_id {!r}, which it does not "
                "hold: ignored",
                live.batch_id,
                cid[:100],
            )

    def deliver(
        self, waiting: Waiting, result: ItemResult | ProviderError, live: Live | None
    ) -> None:
        """Hand the prompt's outcome to its group (which records it or sends it again)."""
        run = self.run
        outcome = run.outcome(waiting, live)
        error = result if isinstance(result, ProviderError) else result.error
        if isinstance(result, ItemResult) and result.completion is not None:
            outcome.completion = result.completion
            # output_schema: an invalid answer is retryable; it goes in the next batch.
            check_output(outcome)
        else:
            outcome.error = error or ProviderError("the batch gave no answer", ErrorKind.RETRYABLE)
            outcome.error_kind = outcome.error.kind.value
            again = outcome.error.kind is ErrorKind.RETRYABLE
            if again and live is not None and live.deadline_hit and not run.fallback_online():
                outcome.error = ProviderError(
                    f"batch {live.batch_id} passed batch_deadline_s and was cancelled before "
                    f"this prompt ran ({outcome.error}); batch_fallback=online sends such "
                    "prompts online",
                    ErrorKind.FATAL,
                )
                outcome.error_kind = "batch_deadline"
            elif again and run.fallback_online():
                waiting.item.online = True
        if outcome.ok:
            run.progress.prompts_done += 1
        if run.prices is not None:  # before deciding: a retry's reservation sees this cost
            outcome.cost_usd, outcome.priced = run.prices.outcome_cost(outcome), True
            run.settle(waiting, outcome.cost_usd)
        waiting.group.answer(waiting.item, outcome)  # a success is cached, for later runs
