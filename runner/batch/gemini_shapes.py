"""The Gemini batch API's JSON shapes: the create body, the operation, its responses.

Google's operation keeps the GenerateContentBatch in ``metadata`` and the output in
``response`` (``inlinedResponses.inlinedResponses``); emulators such as llmock put the
batch's fields at the top and the responses in ``dest.inlinedResponses``. Both are read.
"""

from __future__ import annotations

from typing import Any

from runner.batch.adapter import BatchState, BatchStatus, ItemResult
from runner.batch.requests import SHAPE_ERRORS, bad_line, classified, count
from runner.errors import ErrorKind, ProviderError
from runner.providers.gemini import classify_gemini, parse_generate_content

# The batch state's last word (BATCH_STATE_SUCCEEDED; emulators say JOB_STATE_SUCCEEDED).
STATES = {
    "SUCCEEDED": BatchStatus.ENDED,
    "FAILED": BatchStatus.FAILED,
    "CANCELLED": BatchStatus.CANCELLED,
    "EXPIRED": BatchStatus.EXPIRED,
}
# google.rpc codes of per-item errors and the HTTP status Google maps each to, so that an
# item's error is classified as the same error on an online request.
RPC_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409}
RPC_HTTP |= {11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}


def documented(lines: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    return {"batch": {"displayName": tag, "inputConfig": {"requests": {"requests": lines}}}}


def flat(lines: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    requests = [{"custom_id": line["metadata"]["key"], **line} for line in lines]
    if requests:
        first = requests[0]
        requests[0] = {**first, "metadata": {**first["metadata"], "tag": tag}}
    return {"displayName": tag, "requests": requests}


def batch_of(operation: dict[str, Any]) -> dict[str, Any]:
    """The GenerateContentBatch of an operation (Google: ``metadata``; emulators: the top)."""
    metadata = operation.get("metadata")
    return metadata if isinstance(metadata, dict) else operation


def tag_of(operation: dict[str, Any]) -> str | None:
    name = batch_of(operation).get("displayName") or operation.get("displayName")
    if name:
        return str(name)
    inline = input_requests(operation)
    first = (inline[0].get("metadata") or {}) if inline else {}
    tag = first.get("tag") if isinstance(first, dict) else None
    return None if tag is None else str(tag)


def input_requests(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline requests as the server echoes them back, if it does."""
    config = batch_of(operation).get("inputConfig") or {}
    found = (config.get("requests") or {}).get("requests") if isinstance(config, dict) else None
    if found is None:
        found = (operation.get("src") or {}).get("inlinedRequests")
    return [r for r in found or [] if isinstance(r, dict)]


def request_keys(operation: dict[str, Any]) -> list[str]:
    keys = [(r.get("metadata") or {}).get("key") for r in input_requests(operation)]
    return [str(k) for k in keys] if keys and all(k is not None for k in keys) else []


def inlined_responses(operation: dict[str, Any]) -> list[Any]:
    """The responses: ``response`` or ``metadata.output`` (Google), ``dest`` (emulators).

    Every entry, whatever its shape: responses without keys go by position.
    """
    for holder in (
        operation.get("response"),
        batch_of(operation).get("output"),
        operation.get("dest"),
    ):
        found = holder.get("inlinedResponses") if isinstance(holder, dict) else None
        if isinstance(found, dict):  # Google nests the list: inlinedResponses.inlinedResponses
            found = found.get("inlinedResponses")
        if isinstance(found, list) and found:
            return found
    return []


def response_key(response: Any, keys: list[str], index: int) -> str | None:
    held = response if isinstance(response, dict) else {}
    metadata = held.get("metadata")
    if isinstance(metadata, dict) and metadata.get("key") is not None:
        return str(metadata["key"])
    custom_id = held.get("custom_id")
    if custom_id is not None and str(custom_id) in keys:
        return str(custom_id)
    return keys[index] if index < len(keys) else None


def batch_state(operation: dict[str, Any]) -> BatchState:
    """A batch operation in the engine's terms."""
    batch = batch_of(operation)
    word = str(batch.get("state") or operation.get("state") or "")
    status = STATES.get(word.rsplit("_", 1)[-1], BatchStatus.IN_PROGRESS)
    error = operation.get("error")
    if status is BatchStatus.IN_PROGRESS and operation.get("done") and isinstance(error, dict):
        status = BatchStatus.CANCELLED if error.get("code") == 1 else BatchStatus.FAILED
    stats = batch.get("batchStats")
    stats = stats if isinstance(stats, dict) else {}
    total = count(stats.get("requestCount"))
    done = count(stats.get("successfulRequestCount")) + count(stats.get("failedRequestCount"))
    if not stats:  # emulators count only the completed requests
        done = count(batch.get("completedRequestCount"))
        total = len(input_requests(operation)) or done
    return BatchState(status, done=done, total=total, detail=word)


def item_result(key: str, response: Any, model_name: str) -> ItemResult:
    """One inlined response; one of another shape costs that prompt alone (an error)."""
    try:
        return _item_result(key, response, model_name)
    except SHAPE_ERRORS as exc:
        return ItemResult(key, error=bad_line(f"{type(exc).__name__}: {exc}", response))


def _item_result(key: str, response: Any, model_name: str) -> ItemResult:
    """A GenerateContentResponse, or its google.rpc error."""
    if not isinstance(response, dict):
        return ItemResult(key, error=bad_line("not an object", response))
    error = response.get("error")
    if isinstance(error, dict):
        code = error.get("code") or 2
        if not isinstance(code, int) or isinstance(code, bool):
            return ItemResult(key, error=bad_line(f"error code {code!r} is not a number", error))
        status = RPC_HTTP.get(code, 500)
        return ItemResult(key, error=classified(classify_gemini, status, {"error": error}, ""))
    if error:  # a bare message: the item failed, say so
        return ItemResult(key, error=ProviderError(f"batch item failed: {error}", ErrorKind.FATAL))
    body = response.get("response") or {}
    if not isinstance(body, dict):
        return ItemResult(key, error=bad_line("its response is not an object", response))
    try:
        return ItemResult(key, completion=parse_generate_content(body, model_name))
    except ProviderError as exc:
        return ItemResult(key, error=exc)
