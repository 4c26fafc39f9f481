"""OpenAI's Batch API (and compatible servers): ``/v1/files`` + ``/v1/batches``.

The chunk's requests go up as one JSONL file (``purpose=batch``); the batch is created
from it with the engine's tag in ``metadata`` (so a resume can find it); results come back
as an output file and an error file, both read. Azure OpenAI speaks the same shape under
its own URLs (runner.batch.azure_openai).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from runner.batch.adapter import BatchAdapter, BatchLimits, BatchState, BatchStatus, ItemResult
from runner.batch.http import id_in, jsonl_form, lines_of, objects, request_json, transfer_timeout
from runner.batch.registry import is_multi_turn, register_batch
from runner.batch.requests import SHAPE_ERRORS, bad_line, count, loose_custom_id, skipped
from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.http import classify_status
from runner.providers.openai import DEFAULT_BASE_URL, openai_content, parse_chat_completion
from runner.providers.openai_responses import parse_response, responses_payload

TAG_KEY = "runner_tag"
_STATUS = {
    "validating": BatchStatus.IN_PROGRESS,
    "in_progress": BatchStatus.IN_PROGRESS,
    "finalizing": BatchStatus.IN_PROGRESS,
    "cancelling": BatchStatus.IN_PROGRESS,
    "completed": BatchStatus.ENDED,
    "expired": BatchStatus.EXPIRED,
    "cancelled": BatchStatus.CANCELLED,
    "failed": BatchStatus.FAILED,
}
# Item error codes that mean "not run", not "refused": sent again.
_NOT_RUN = frozenset({"batch_expired", "batch_cancelled", "batch_failed"})
_STREAM_KEYS = ("stream", "stream_options")
# How far back find() looks (newest first) for a batch with the tag.
_FIND_PAGES = 10


class OpenAIShapedBatches(BatchAdapter):
    """The files + batches protocol; subclasses say where its URLs are and how to sign."""

    endpoint = "/v1/chat/completions"
    responses_endpoint = "/v1/responses"

    def url(self, model_name: str, path: str) -> str:
        raise NotImplementedError

    def headers(self, model_name: str) -> dict[str, str]:
        raise NotImplementedError

    def body_model(self, model_name: str) -> str:
        """The ``model`` of each request line (the deployment, for Azure)."""
        return model_name

    def batch_endpoint(self, model_name: str) -> str:
        """The batch's endpoint for a model: chat completions, or the Responses API."""
        uses = getattr(self.provider, "route", None)
        responses = callable(uses) and uses(model_name) == "responses"
        return self.responses_endpoint if responses else self.endpoint

    def tagged(self, tag: str) -> dict[str, Any]:
        """What goes in the create request to find the batch by ``tag`` later."""
        return {"metadata": {TAG_KEY: tag}}

    # -- the contract -------------------------------------------------------------------

    def request_line(self, record: PromptRecord, custom_id: str) -> dict[str, Any]:
        if is_multi_turn(record):
            raise ProviderError(
                "a multi-turn prompt cannot go in a batch (each turn needs the answer "
                "before it); it is sent online",
                ErrorKind.FATAL,
            )
        prompt = record.prompt
        messages = (
            [{"role": "user", "content": prompt if isinstance(prompt, str) else prompt[0]}]
            if isinstance(prompt, str) or isinstance(prompt[0], str)
            else [dict(m) for m in prompt]
        )
        media_dir = media.media_folder(self.provider.context.settings)
        # A batch answers whole: streaming has no meaning there.
        params = {k: v for k, v in record.parameters.items() if k not in _STREAM_KEYS}
        model = self.body_model(record.model_name or "")
        url = self.batch_endpoint(record.model_name or "")
        if url == self.responses_endpoint:
            body = responses_payload(messages, params, model, media_dir)
            return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
        shaped = [{**m, "content": openai_content(m["content"], media_dir)} for m in messages]
        body = {**params, "model": model, "messages": shaped}
        return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}

    async def upload(self, model_name: str, lines: list[dict[str, Any]]) -> str | None:
        context = self.provider.context
        form = jsonl_form(lines, "runner-batch.jsonl")
        body = await request_json(
            context.http(),
            "POST",
            self.url(model_name, "/files"),
            headers=self.headers(model_name),
            timeout=transfer_timeout(context.settings.timeout_s),
            form=form,
        )
        return id_in(body, "id", "the file upload")

    async def submit(
        self, model_name: str, lines: list[dict[str, Any]], input_ref: str | None, tag: str
    ) -> str:
        payload = {
            "input_file_id": input_ref,
            "endpoint": self.batch_endpoint(model_name),
            "completion_window": "24h",
            **self.tagged(tag),
        }
        body = await self._call("POST", model_name, "/batches", payload)
        return id_in(body, "id", "the batch create")

    async def find(self, model_name: str, tag: str) -> str | None:
        after: str | None = None
        for _ in range(_FIND_PAGES):
            query = "/batches?limit=100" + (f"&after={after}" if after else "")
            page = await self._call("GET", model_name, query)
            for batch in objects(page.get("data")):
                metadata = batch.get("metadata")
                if isinstance(metadata, dict) and metadata.get(TAG_KEY) == tag:
                    return id_in(batch, "id", "the batch list")
            if not page.get("has_more") or not page.get("last_id"):
                return None
            after = str(page["last_id"])
        return None

    async def poll(self, model_name: str, batch_id: str) -> BatchState:
        body = await self._call("GET", model_name, f"/batches/{batch_id}")
        word = str(body.get("status"))
        counts = body.get("request_counts") or {}
        if not isinstance(counts, dict):
            counts = {}
        done = count(counts.get("completed")) + count(counts.get("failed"))
        status = _STATUS.get(word, BatchStatus.IN_PROGRESS)
        errors = body.get("errors")
        first = objects(errors.get("data") if isinstance(errors, dict) else None)[:1]
        if status is BatchStatus.FAILED and first:  # a rejected input file says why
            word = f"failed: {first[0].get('message') or first[0].get('code')}"
        return BatchState(status, done, count(counts.get("total")), word)

    async def results(self, model_name: str, batch_id: str) -> AsyncIterator[ItemResult]:
        body = await self._call("GET", model_name, f"/batches/{batch_id}")
        context = self.provider.context
        for key in ("output_file_id", "error_file_id"):
            file_id = body.get(key)
            if not file_id:
                continue
            lines = lines_of(
                context.http(),
                self.url(model_name, f"/files/{file_id}/content"),
                headers=self.headers(model_name),
                timeout=transfer_timeout(context.settings.timeout_s),
            )
            async for line in lines:
                item = item_result(line)
                if item is not None:
                    yield item

    async def cancel(self, model_name: str, batch_id: str) -> None:
        await self._call("POST", model_name, f"/batches/{batch_id}/cancel", {})

    async def _call(
        self, method: str, model_name: str, path: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        context = self.provider.context
        return await request_json(
            context.http(),
            method,
            self.url(model_name, path),
            headers=self.headers(model_name),
            timeout=context.timeout,
            payload=payload,
        )


def item_result(line: str) -> ItemResult | None:
    """One line of an output or error file (None: a line that names no prompt).

    A line of another shape costs that prompt alone: it is recorded as an error.
    """
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        found = loose_custom_id(line)
        if found is None:
            skipped(line)
            return None
        return ItemResult(found, error=bad_line("not JSON", line))
    if not isinstance(entry, dict) or not entry.get("custom_id"):
        skipped(line)
        return None
    custom_id = str(entry["custom_id"])
    try:
        return _entry_result(custom_id, entry, line)
    except SHAPE_ERRORS as exc:
        return ItemResult(custom_id, error=bad_line(f"{type(exc).__name__}: {exc}", line))


def _entry_result(custom_id: str, entry: dict[str, Any], line: str) -> ItemResult:
    response = entry.get("response") or {}
    if not isinstance(response, dict):
        return ItemResult(custom_id, error=bad_line("its response is not an object", line))
    raw_status = response.get("status_code") or 0
    if not isinstance(raw_status, int) or isinstance(raw_status, bool):
        why = f"status_code {raw_status!r} is not a number"
        return ItemResult(custom_id, error=bad_line(why, line))
    status = raw_status
    error = entry.get("error")
    if error:
        if not isinstance(error, dict):  # a bare message: the item failed, say so
            error = {"message": str(error)}
        code = str(error.get("code") or "")
        kind = ErrorKind.RETRYABLE if code in _NOT_RUN else ErrorKind.FATAL
        message = f"batch item failed: {error.get('message') or code} ({code or 'no code'})"
        return ItemResult(custom_id, error=ProviderError(message, kind, status or None))
    body = response.get("body")
    if status >= 400:
        return ItemResult(
            custom_id, error=classify_status(status, body, json.dumps(body)[:500], {})
        )
    if not isinstance(body, dict):  # answered (and maybe billed) with no readable body
        return ItemResult(custom_id, error=bad_line("its response has no body object", line))
    try:
        # A line of a Responses batch answers with a ``response`` object.
        parse = parse_response if body.get("object") == "response" else parse_chat_completion
        return ItemResult(custom_id, completion=parse(body))
    except ProviderError as exc:
        return ItemResult(custom_id, error=exc)


@register_batch
class OpenAIBatches(OpenAIShapedBatches):
    """``api: openai`` in batch mode: 50,000 requests or 200 MB per batch (OpenAI's limits)."""

    api = "openai"
    limits = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)

    def url(self, model_name: str, path: str) -> str:
        base = self.provider.base_url(model_name) or DEFAULT_BASE_URL
        return f"{base}{path}"

    def headers(self, model_name: str) -> dict[str, str]:
        key = self.provider.key(model_name)
        return {"Authorization": f"Bearer {key}"} if key else {}
