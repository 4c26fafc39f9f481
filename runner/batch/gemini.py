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

from runner.batch.adapter import BatchAdapter, BatchLimits, BatchState, BatchStatus, ItemResult
from runner.batch.http import transfer_timeout
from runner.batch.registry import register_batch
from runner.batch.requests import classified, single_request
from runner.batch.transport import get_json
from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.gemini import DEFAULT_BASE_URL, classify_gemini, parse_generate_content
from runner.providers.gemini_content import gemini_payload, needs_file_api
from runner.providers.http import post_json

# The batch state's last word (BATCH_STATE_SUCCEEDED; emulators say JOB_STATE_SUCCEEDED).
STATES = {
    "SUCCEEDED": BatchStatus.ENDED,
    "FAILED": BatchStatus.FAILED,
    "CANCELLED": BatchStatus.CANCELLED,
    "EXPIRED": BatchStatus.EXPIRED,
}
FIND_PAGES = 20  # of 100 batches each
# google.rpc codes of per-item errors and the HTTP status Google maps each to, so that an
# item's error is classified as the same error on an online request.
RPC_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409}
RPC_HTTP |= {11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}
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
        return self.provider._url(model_name) or DEFAULT_BASE_URL

    def _headers(self, model_name: str) -> dict[str, str]:
        key = self.provider._key(model_name)
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
                body = await self._post(model_name, _documented(lines, tag))
            except ProviderError as exc:
                if not self._emulator_refused(root, exc):
                    raise
                body = await self._flat_or(model_name, lines, tag, exc)
        else:
            body = await self._post(model_name, _flat(lines, tag))
        name = str(body["name"])
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
            body = await self._post(model_name, _flat(lines, tag))
        except ProviderError as exc:
            if exc.status == 400:
                raise refusal from None
            raise
        self._flat.add(self._root(model_name))
        return body

    async def _post(self, model_name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await post_json(
            self.provider.context.http(),
            f"{self._root(model_name)}/models/{model_name}:batchGenerateContent",
            payload,
            headers=self._headers(model_name),
            # Up to 20 MB go up: no cap on the whole, timeout_s between two reads.
            timeout=transfer_timeout(self.provider.context.settings.timeout_s),
            classify=classify_gemini,
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
        keys = _request_keys(operation) or self._keys.get(batch_id) or []
        for i, response in enumerate(_inlined_responses(operation)):
            key = _response_key(response, keys, i)
            if key is None:
                raise ProviderError(
                    f"batch {batch_id}: response {i} names no request and the batch's "
                    "requests are not known here; its prompts are sent again",
                    ErrorKind.RETRYABLE,
                )
            yield item_result(key, response, model_name)
        self._keys.pop(batch_id, None)  # read whole: a run of many batches holds no key lists

    async def cancel(self, model_name: str, batch_id: str) -> None:
        try:
            await post_json(
                self.provider.context.http(),
                f"{self._root(model_name)}/{batch_id}:cancel",
                {},
                headers=self._headers(model_name),
                timeout=self.provider.context.timeout,
                classify=classify_gemini,
            )
        except ProviderError as exc:
            # Cancelling a batch that has just ended is refused; nothing is left to cancel.
            if exc.kind is ErrorKind.RETRYABLE:
                raise
            if (await self.poll(model_name, batch_id)).status is BatchStatus.IN_PROGRESS:
                raise

    async def find(self, model_name: str, tag: str) -> str | None:
        token: str | None = None
        for _ in range(FIND_PAGES):
            params = {"pageSize": "100", **({"pageToken": token} if token else {})}
            page = await self._get(model_name, f"{self._root(model_name)}/batches", params=params)
            for operation in page.get("operations") or page.get("batches") or []:
                if _tag_of(operation) == tag:
                    return str(operation["name"])
            token = page.get("nextPageToken")
            if not token:
                break
        return None


def _documented(lines: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    return {"batch": {"displayName": tag, "inputConfig": {"requests": {"requests": lines}}}}


def _flat(lines: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    requests = [{"custom_id": line["metadata"]["key"], **line} for line in lines]
    if requests:
        first = requests[0]
        requests[0] = {**first, "metadata": {**first["metadata"], "tag": tag}}
    return {"displayName": tag, "requests": requests}


def _batch(operation: dict[str, Any]) -> dict[str, Any]:
    """The GenerateContentBatch of an operation (Google: ``metadata``; emulators: the top)."""
    metadata = operation.get("metadata")
    return metadata if isinstance(metadata, dict) else operation


def _tag_of(operation: dict[str, Any]) -> str | None:
    name = _batch(operation).get("displayName") or operation.get("displayName")
    if name:
        return str(name)
    inline = _input_requests(operation)
    first = (inline[0].get("metadata") or {}) if inline else {}
    tag = first.get("tag") if isinstance(first, dict) else None
    return None if tag is None else str(tag)


def _input_requests(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline requests as the server echoes them back, if it does."""
    config = _batch(operation).get("inputConfig") or {}
    found = (config.get("requests") or {}).get("requests") if isinstance(config, dict) else None
    if found is None:
        found = (operation.get("src") or {}).get("inlinedRequests")
    return [r for r in found or [] if isinstance(r, dict)]


def _request_keys(operation: dict[str, Any]) -> list[str]:
    keys = [(r.get("metadata") or {}).get("key") for r in _input_requests(operation)]
    return [str(k) for k in keys] if keys and all(k is not None for k in keys) else []


def _inlined_responses(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The responses: ``response`` or ``metadata.output`` (Google), ``dest`` (emulators)."""
    for holder in (
        operation.get("response"),
        _batch(operation).get("output"),
        operation.get("dest"),
    ):
        found = holder.get("inlinedResponses") if isinstance(holder, dict) else None
        if isinstance(found, dict):  # Google nests the list: inlinedResponses.inlinedResponses
            found = found.get("inlinedResponses")
        if isinstance(found, list) and found:
            return [r for r in found if isinstance(r, dict)]
    return []


def _response_key(response: dict[str, Any], keys: list[str], index: int) -> str | None:
    metadata = response.get("metadata")
    if isinstance(metadata, dict) and metadata.get("key") is not None:
        return str(metadata["key"])
    custom_id = response.get("custom_id")
    if custom_id is not None and str(custom_id) in keys:
        return str(custom_id)
    return keys[index] if index < len(keys) else None


def batch_state(operation: dict[str, Any]) -> BatchState:
    """A batch operation in the engine's terms."""
    batch = _batch(operation)
    word = str(batch.get("state") or operation.get("state") or "")
    status = STATES.get(word.rsplit("_", 1)[-1], BatchStatus.IN_PROGRESS)
    error = operation.get("error")
    if status is BatchStatus.IN_PROGRESS and operation.get("done") and isinstance(error, dict):
        status = BatchStatus.CANCELLED if error.get("code") == 1 else BatchStatus.FAILED
    stats = batch.get("batchStats") or {}
    total = int(stats.get("requestCount") or 0)
    done = int(stats.get("successfulRequestCount") or 0) + int(stats.get("failedRequestCount") or 0)
    if not stats:  # emulators count only the completed requests
        done = int(batch.get("completedRequestCount") or 0)
        total = len(_input_requests(operation)) or done
    return BatchState(status, done=done, total=total, detail=word)


def item_result(key: str, response: dict[str, Any], model_name: str) -> ItemResult:
    """One inlined response: a GenerateContentResponse, or its google.rpc error."""
    error = response.get("error")
    if isinstance(error, dict):
        status = RPC_HTTP.get(int(error.get("code") or 2), 500)
        return ItemResult(key, error=classified(classify_gemini, status, {"error": error}, ""))
    try:
        body = response.get("response") or {}
        return ItemResult(key, completion=parse_generate_content(body, model_name))
    except ProviderError as exc:
        return ItemResult(key, error=exc)
