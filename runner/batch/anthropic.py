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
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger

from runner.batch.adapter import BatchAdapter, BatchLimits, BatchState, BatchStatus, ItemResult
from runner.batch.anthropic_shapes import batch_state, line_result, sent_id
from runner.batch.http import get_json, id_in, lines_of, objects, transfer_timeout
from runner.batch.registry import register_batch
from runner.batch.requests import single_request
from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.anthropic import (
    DEFAULT_BASE_URL,
    anthropic_payload,
    beta_headers,
    classify_anthropic,
)

CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,55}")
# How far back find looks: results stay readable for 29 days after a batch is created.
FIND_WINDOW = timedelta(days=29)
FIND_PAGES = 20  # of 100 batches each: a resume does not page through a key's whole history
WAIT_POLL_S = (2.0, 60.0)  # find's wait for a batch in progress: first and longest pause


def tag_marker(tag: str) -> str:
    """The prefix that ties a batch's custom_ids to the chunk's tag."""
    return hashlib.sha256(tag.encode()).hexdigest()[:8] + "-"


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
        return f"{self.provider.base_url(model_name) or DEFAULT_BASE_URL}/v1/messages/batches"

    def _headers(self, model_name: str) -> dict[str, str]:
        headers = {"anthropic-version": self.provider.context.settings.apis.anthropic.version}
        key = self.provider.key(model_name)
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
        betas = [beta_headers(line["params"]) for line in lines]
        body = await self.provider.post_json(
            self._base(model_name),
            {"requests": requests},
            headers={**self._headers(model_name), **next((b for b in betas if b), {})},
            # Up to 256 MB go up: no cap on the whole, timeout_s between two reads.
            timeout=transfer_timeout(self.provider.context.settings.timeout_s),
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
            lambda: self.provider.post_json(
                f"{self._base(model_name)}/{batch_id}/cancel", {}, headers=self._headers(model_name)
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
