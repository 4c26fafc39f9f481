"""Google AI's Gemini batch mode: ``models/{model}:batchGenerateContent`` with inline requests.

Each request is built by the online provider's :func:`gemini_payload` (so a batch sends what
``generateContent`` would) and each response parsed by :func:`parse_generate_content`, its
errors classified by :func:`classify_gemini`. The batch is a long-running operation
(``batches/{id}``) polled until its ``state`` ends; its ``displayName`` is the engine's tag,
so :meth:`GeminiBatches.find` lists the key's batches and matches it.

Responses are tied to prompts by each request's ``metadata.key`` when the response carries
it back; otherwise by position, which the API documents as the order of the requests.

Servers that emulate the API with a flatter body (``{"requests": [{"custom_id", "request"}]}``,
as llmock does) refuse the documented body with a 400. For a base URL other than Google's,
such a refusal is answered by one try of that form (with the tag in the first request's
metadata: those servers keep no ``displayName``); when it works the server gets that form
from then on, when it is refused too the first refusal is the error. Google's own URL never
takes that path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from runner.batch.adapter import BatchAdapter, BatchLimits, BatchState, ItemResult
from runner.batch.gemini_shapes import (
    batch_state,
    documented,
    flat,
    inlined_responses,
    item_result,
    request_keys,
    response_key,
    tag_of,
)
from runner.batch.http import get_json, id_in, objects, transfer_timeout
from runner.batch.registry import register_batch
from runner.batch.requests import single_request, skipped
from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.gemini import DEFAULT_BASE_URL, classify_gemini
from runner.providers.gemini_content import gemini_payload, needs_file_api

FIND_PAGES = 20  # of 100 batches each
T = TypeVar("T")


def _run_now(coro: Coroutine[Any, Any, T]) -> T:
    """The value of a coroutine that never suspends (gemini_payload with no file uploads).

    ``request_line`` is synchronous; with no resolver, building a payload awaits nothing.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("the Gemini payload builder waited on I/O with no resolver")


@register_batch
class GeminiBatches(BatchAdapter):
    """``api: gemini`` in batch mode (inline requests, half price)."""

    api = "gemini"
    # Inline requests must total at most 20 MB; the body's envelope (the batch's name, the
    # JSON around each request) takes some room, hence the margin. No count is documented.
    limits = BatchLimits(max_requests=100_000, max_bytes=19_000_000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flat: set[str] = set()  # base URLs that take the emulators' flat body
        self._keys: dict[str, list[str]] = {}  # batch id -> its request keys, as submitted

    def _root(self, model_name: str) -> str:
        return self.provider.base_url(model_name) or DEFAULT_BASE_URL

    def _headers(self, model_name: str) -> dict[str, str]:
        key = self.provider.key(model_name)
        return {"x-goog-api-key": key} if key else {}

    def request_line(self, record: PromptRecord, custom_id: str) -> dict[str, Any]:
        settings = self.provider.context.settings
        cfg = settings.apis.gemini
        media_dir = media.media_folder(settings)
        for i, j, part in media.media_parts(record.prompt):
            if needs_file_api(part, media_dir, cfg.inline_limit):
                raise ProviderError(
                    f"prompt {record.key!r} ({record.where}): part {j} of message {i} goes "
                    "through the File API (over apis.gemini.inline_limit, or uploaded), which "
                    "batch mode does not do; send it with mode=online",
                    ErrorKind.FATAL,
                )
        params = {k: v for k, v in record.parameters.items() if k != "stream"}
        payload = _run_now(
            gemini_payload(
                single_request(record),
                params,
                media_dir,
                safety_filter=record.data.get("safety_filter"),
                inline_limit=cfg.inline_limit,
            )
        )
        return {"request": payload, "metadata": {"key": custom_id}}

    async def upload(self, model_name: str, lines: list[dict[str, Any]]) -> str | None:
        return None  # inline requests: no input file

    async def submit(
        self, model_name: str, lines: list[dict[str, Any]], input_ref: str | None, tag: str
    ) -> str:
        root = self._root(model_name)
        body: dict[str, Any] | None = None
        if root not in self._flat:
            try:
                body = await self._post(model_name, documented(lines, tag))
            except ProviderError as exc:
                if not self._emulator_refused(root, exc):
                    raise
                body = await self._flat_or(model_name, lines, tag, exc)
        else:
            body = await self._post(model_name, flat(lines, tag))
        name = id_in(body, "name", "the batch create")
        self._keys[name] = [str(line["metadata"]["key"]) for line in lines]
        return name

    @staticmethod
    def _emulator_refused(root: str, exc: ProviderError) -> bool:
        """Whether a refusal of the documented body may be an emulator's (never Google's)."""
        return exc.status == 400 and root != DEFAULT_BASE_URL

    async def _flat_or(
        self, model_name: str, lines: list[dict[str, Any]], tag: str, refusal: ProviderError
    ) -> dict[str, Any]:
        """Submit in the emulators' form; when that is refused too, the first refusal stands."""
        try:
            body = await self._post(model_name, flat(lines, tag))
        except ProviderError as exc:
            if exc.status == 400:
                raise refusal from None
            raise
        self._flat.add(self._root(model_name))
        return body

    async def _post(self, model_name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.provider.post_json(
            f"{self._root(model_name)}/models/{model_name}:batchGenerateContent",
            payload,
            headers=self._headers(model_name),
            # Up to 20 MB go up: no cap on the whole, timeout_s between two reads.
            timeout=transfer_timeout(self.provider.context.settings.timeout_s),
        )

    async def _get(
        self,
        model_name: str,
        url: str,
        *,
        large: bool = False,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        context = self.provider.context
        return await get_json(
            context.http(),
            url,
            headers=self._headers(model_name),
            # An ended batch holds every answer: no cap on the whole download.
            timeout=transfer_timeout(context.settings.timeout_s) if large else context.timeout,
            classify=classify_gemini,
            params=params,
        )

    async def poll(self, model_name: str, batch_id: str) -> BatchState:
        return batch_state(await self._get(model_name, f"{self._root(model_name)}/{batch_id}"))

    async def results(self, model_name: str, batch_id: str) -> AsyncIterator[ItemResult]:
        operation = await self._get(model_name, f"{self._root(model_name)}/{batch_id}", large=True)
        keys = request_keys(operation) or self._keys.get(batch_id) or []
        for i, response in enumerate(inlined_responses(operation)):
            key = response_key(response, keys, i)
            if key is None:  # its prompt, if any, is one with no result: sent again
                skipped(response)
                continue
            yield item_result(key, response, model_name)
        self._keys.pop(batch_id, None)  # read whole: a run of many batches holds no key lists

    async def cancel(self, model_name: str, batch_id: str) -> None:
        await self.cancel_unless_ended(
            model_name,
            batch_id,
            lambda: self.provider.post_json(
                f"{self._root(model_name)}/{batch_id}:cancel", {}, headers=self._headers(model_name)
            ),
        )

    async def find(self, model_name: str, tag: str) -> str | None:
        token: str | None = None
        for _ in range(FIND_PAGES):
            params = {"pageSize": "100", **({"pageToken": token} if token else {})}
            page = await self._get(model_name, f"{self._root(model_name)}/batches", params=params)
            for operation in objects(page.get("operations") or page.get("batches")):
                if tag_of(operation) == tag:
                    return id_in(operation, "name", "the batch list")
            token = page.get("nextPageToken")
            if not token:
                break
        return None
