"""Anthropic's Message Batches: ``POST /v1/messages/batches``, polled, results as JSONL.

Each request's ``params`` is built by the online provider's :func:`anthropic_payload`, so a
batch sends what ``complete`` would (``stream`` dropped: a batch cannot stream), and each
result is parsed and its errors classified by the online code.

Finding a batch by its tag: Anthropic stores nothing of ours on a batch but the requests'
``custom_id``s, readable only once it has ended. So every ``custom_id`` sent starts with a
marker of the tag (``<8 hex>-``, stripped again from results), and :meth:`find` looks at the
key's batches, newest first: an ended one is ours when its first result carries the marker;
one still in progress cannot tell, so find waits for it to end (Anthropic ends every batch
within 24 h; usually minutes). The engine's ``custom_id`` must therefore be at most 55
characters of ``[A-Za-z0-9_-]`` (Anthropic's pattern, less the marker).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger

from runner.batch.adapter import BatchAdapter, BatchLimits, BatchState, BatchStatus, ItemResult
from runner.batch.http import get_json, id_in, lines_of, objects, transfer_timeout
from runner.batch.registry import register_batch
from runner.batch.requests import (
    SHAPE_ERRORS,
    bad_line,
    classified,
    count,
    loose_custom_id,
    retry_later,
    single_request,
    skipped,
)
from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.anthropic import (
    DEFAULT_BASE_URL,
    anthropic_payload,
    classify_anthropic,
    parse_message,
)
from runner.providers.http import post_json

# Anthropic's error types and the HTTP status each comes with (its errors page), so that an
# errored item is classified exactly as the same error on an online request.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,55}")
MARKED = re.compile(r"[0-9a-f]{8}-")
# How far back find looks: results stay readable for 29 days after a batch is created.
FIND_WINDOW = timedelta(days=29)
FIND_PAGES = 20  # of 100 batches each: a resume does not page through a key's whole history
WAIT_POLL_S = (2.0, 60.0)  # find's wait for a batch in progress: first and longest pause


def tag_marker(tag: str) -> str:
    """The prefix that ties a batch's custom_ids to the chunk's tag."""
    return hashlib.sha256(tag.encode()).hexdigest()[:8] + "-"


def engine_id(sent: str) -> str:
    """The engine's custom_id, from the one sent (its tag marker removed)."""
    return sent[9:] if MARKED.match(sent) else sent


@register_batch
class AnthropicBatches(BatchAdapter):
    """``api: anthropic`` in batch mode (Message Batches, half price)."""

    api = "anthropic"
    # The documented cap: 100,000 requests or 256 MB, whichever comes first.
    limits = BatchLimits(max_requests=100_000, max_bytes=256_000_000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first_ids: dict[str, str] = {}  # ended batch id -> its first result's custom_id

    def _base(self, model_name: str) -> str:
        return f"{self.provider._url(model_name) or DEFAULT_BASE_URL}/v1/messages/batches"

    def _headers(self, model_name: str) -> dict[str, str]:
        headers = {"anthropic-version": self.provider.context.settings.apis.anthropic.version}
        key = self.provider._key(model_name)
        if key:
            headers["x-api-key"] = key
        return headers

    def request_line(self, record: PromptRecord, custom_id: str) -> dict[str, Any]:
        if not CUSTOM_ID.fullmatch(custom_id):
            raise ProviderError(
                f"custom_id {custom_id!r} does not fit Anthropic's batches (at most 55 of "
                "A-Z a-z 0-9 _ -, 9 more are taken by the tag marker)",
                ErrorKind.FATAL,
            )
        settings = self.provider.context.settings
        params = {k: v for k, v in record.parameters.items() if k != "stream"}
        payload = anthropic_payload(
            single_request(record),
            record.model_name or "",
            params,
            settings.apis.anthropic.default_max_tokens,
            media.media_folder(settings),
        )
        return {"custom_id": custom_id, "params": payload}

    async def upload(self, model_name: str, lines: list[dict[str, Any]]) -> str | None:
        return None  # the requests go inline in the create call

    async def submit(
        self, model_name: str, lines: list[dict[str, Any]], input_ref: str | None, tag: str
    ) -> str:
        marker = tag_marker(tag)
        requests = [{**line, "custom_id": marker + line["custom_id"]} for line in lines]
        body = await post_json(
            self.provider.context.http(),
            self._base(model_name),
            {"requests": requests},
            headers=self._headers(model_name),
            # Up to 256 MB go up: no cap on the whole, timeout_s between two reads.
            timeout=transfer_timeout(self.provider.context.settings.timeout_s),
            classify=classify_anthropic,
        )
        return id_in(body, "id", "the batch create")

    async def _get(self, model_name: str, url: str, **params: str) -> dict[str, Any]:
        return await get_json(
            self.provider.context.http(),
            url,
            headers=self._headers(model_name),
            timeout=self.provider.context.timeout,
            classify=classify_anthropic,
            params=params or None,
        )

    async def poll(self, model_name: str, batch_id: str) -> BatchState:
        return batch_state(await self._get(model_name, f"{self._base(model_name)}/{batch_id}"))

    async def results(self, model_name: str, batch_id: str) -> AsyncIterator[ItemResult]:
        async for line in self._result_lines(model_name, batch_id):
            item = line_result(line)
            if item is not None:
                yield item

    def _result_lines(self, model_name: str, batch_id: str) -> AsyncGenerator[str]:
        # The documented results endpoint (what results_url names), on the configured host:
        # the key never goes to a host the settings did not name.
        return lines_of(
            self.provider.context.http(),
            f"{self._base(model_name)}/{batch_id}/results",
            headers=self._headers(model_name),
            timeout=transfer_timeout(self.provider.context.settings.timeout_s),
            classify=classify_anthropic,
        )

    async def cancel(self, model_name: str, batch_id: str) -> None:
        await self.cancel_unless_ended(
            model_name,
            batch_id,
            lambda: post_json(
                self.provider.context.http(),
                f"{self._base(model_name)}/{batch_id}/cancel",
                {},
                headers=self._headers(model_name),
                timeout=self.provider.context.timeout,
                classify=classify_anthropic,
            ),
        )

    async def find(self, model_name: str, tag: str) -> str | None:
        marker = tag_marker(tag)
        waiting: list[str] = []
        for batch in await self._recent(model_name):
            if batch.get("processing_status") == "ended":
                if await self._first_id_marked(model_name, str(batch["id"]), marker):
                    return str(batch["id"])
            else:
                waiting.append(str(batch["id"]))
        for batch_id in waiting:
            await self._wait_ended(model_name, batch_id)
            if await self._first_id_marked(model_name, batch_id, marker):
                return batch_id
        return None

    async def _recent(self, model_name: str) -> list[dict[str, Any]]:
        """The key's batches of the last 29 days, newest first (at most FIND_PAGES pages)."""
        since = datetime.now(UTC) - FIND_WINDOW
        found: dict[str, dict[str, Any]] = {}
        after: str | None = None
        for _ in range(FIND_PAGES):
            params = {"limit": "100", **({"after_id": after} if after else {})}
            page = await self._get(model_name, self._base(model_name), **params)
            listed = [b for b in objects(page.get("data")) if b.get("id")]
            fresh = [b for b in listed if str(b["id"]) not in found]
            for batch in fresh:
                if _created(batch) < since:
                    return list(found.values())
                found[str(batch["id"])] = batch
            after = page.get("last_id")
            # A server that ignores after_id sends the same page again: nothing new, stop.
            if not fresh or not page.get("has_more") or not after:
                break
        return list(found.values())

    async def _first_id_marked(self, model_name: str, batch_id: str, marker: str) -> bool:
        # An ended batch's results never change: a find that looks again (a create in
        # doubt, runner.batch.in_doubt) reads each first line once.
        first = self._first_ids.get(batch_id)
        if first is None:
            first = ""  # no results: cancelled before any request ran, nothing to take back
            lines = self._result_lines(model_name, batch_id)
            try:
                async for line in lines:
                    first = sent_id(line) or ""
                    break
            finally:
                await lines.aclose()  # the rest of the file is not needed: drop the connection
            self._first_ids[batch_id] = first
        return first.startswith(marker)

    async def _wait_ended(self, model_name: str, batch_id: str) -> None:
        logger.warning(
            "Anthropic batch {} is in progress and Anthropic batches carry no tag: waiting for "
            "it to end to tell whether this run submitted it (it ends within 24 h)",
            batch_id,
        )
        pause, started = WAIT_POLL_S[0], time.monotonic()
        while (await self.poll(model_name, batch_id)).status is BatchStatus.IN_PROGRESS:
            await asyncio.sleep(pause)
            pause = min(WAIT_POLL_S[1], pause * 2)
        waited = time.monotonic() - started
        logger.info("batch {} ended after {:.0f} s of waiting", batch_id, waited)


def _created(batch: dict[str, Any]) -> datetime:
    raw = str(batch.get("created_at") or "")
    try:
        created = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)  # unknown: keep it in view rather than skip it
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def batch_state(batch: dict[str, Any]) -> BatchState:
    """A MessageBatch object in the engine's terms."""
    counts = batch.get("request_counts")
    counts = counts if isinstance(counts, dict) else {}
    done = sum(count(counts.get(k)) for k in ("succeeded", "errored", "canceled", "expired"))
    total = done + count(counts.get("processing"))
    word = str(batch.get("processing_status") or "")
    if word != "ended":
        status = BatchStatus.IN_PROGRESS
    elif batch.get("cancel_initiated_at"):
        status = BatchStatus.CANCELLED
    elif count(counts.get("expired")):
        status = BatchStatus.EXPIRED
    else:
        status = BatchStatus.ENDED
    return BatchState(status, done=done, total=total, detail=word)


def sent_id(line: str) -> str | None:
    """The custom_id (as sent, marker and all) a results line names, if it names one."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return loose_custom_id(line)
    found = entry.get("custom_id") if isinstance(entry, dict) else None
    return str(found) if found else None


def line_result(line: str) -> ItemResult | None:
    """One results line (None: it names no prompt); a line of another shape costs that
    prompt alone, recorded as an error."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        found = loose_custom_id(line)
        if found is None:
            skipped(line)
            return None
        return ItemResult(engine_id(found), error=bad_line("not JSON", line))
    if not isinstance(entry, dict) or not entry.get("custom_id"):
        skipped(line)
        return None
    try:
        return item_result(entry)
    except SHAPE_ERRORS as exc:
        cid = engine_id(str(entry["custom_id"]))
        return ItemResult(cid, error=bad_line(f"{type(exc).__name__}: {exc}", line))


def item_result(line: dict[str, Any]) -> ItemResult:
    """One results line: succeeded, errored (classified as online), canceled or expired."""
    custom_id = engine_id(str(line.get("custom_id", "")))
    result = line.get("result") or {}
    if not isinstance(result, dict):
        return ItemResult(custom_id, error=bad_line("its result is not an object", line))
    kind = result.get("type")
    if kind == "succeeded":
        try:
            message = result.get("message")
            if not isinstance(message, dict):
                return ItemResult(custom_id, error=bad_line("its message is not an object", line))
            return ItemResult(custom_id, completion=parse_message(message))
        except ProviderError as exc:
            return ItemResult(custom_id, error=exc)
    if kind == "errored":
        body = result.get("error") or {}
        detail = body.get("error") if isinstance(body, dict) else None
        error_type = detail.get("type") if isinstance(detail, dict) else None
        status = ERROR_STATUS.get(str(error_type), 500)
        return ItemResult(custom_id, error=classified(classify_anthropic, status, body, ""))
    if kind == "canceled":
        return ItemResult(custom_id, error=retry_later("its batch was cancelled before it ran"))
    if kind == "expired":
        return ItemResult(custom_id, error=retry_later("its batch expired (24 h) before it ran"))
    return ItemResult(
        custom_id, error=ProviderError(f"unknown batch result type {kind!r}", ErrorKind.FATAL)
    )
