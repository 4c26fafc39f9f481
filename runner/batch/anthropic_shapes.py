"""Anthropic's Message Batches JSON shapes: a batch's state and its results lines.

Each result is parsed and its errors classified by the online code; a line of another shape
costs that prompt alone (an error saying what was wrong), never the batch's other results.
"""

from __future__ import annotations

import json
import re
from typing import Any

from runner.batch.adapter import BatchState, BatchStatus, ItemResult
from runner.batch.requests import (
    SHAPE_ERRORS,
    bad_line,
    classified,
    count,
    loose_custom_id,
    retry_later,
    skipped,
)
from runner.errors import ErrorKind, ProviderError
from runner.providers.anthropic import classify_anthropic, parse_message

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
MARKED = re.compile(r"[0-9a-f]{8}-")


def engine_id(sent: str) -> str:
    """The engine's custom_id, from the one sent (its tag marker removed)."""
    return sent[9:] if MARKED.match(sent) else sent


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
