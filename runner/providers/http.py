"""HTTP helpers shared by the HTTP providers: send JSON, classify failures."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import aiohttp

from runner import wire_json
from runner.errors import ErrorKind, ProviderError

# 408 request timeout, 409 conflict (some APIs use it for "try again"), 429 too many
# requests, 5xx server faults (and Anthropic's 529 overloaded) are worth another attempt.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})

# (status, parsed body or None, raw body, headers) -> the error to raise.
Classifier = Callable[[int, Any, str, Mapping[str, str]], ProviderError]


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or a date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _error_text(body: Any, raw: str) -> tuple[str, str | None]:
    """The API's error message and code, from the usual JSON error shapes."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            message = err.get("message") or err.get("msg") or json.dumps(err)[:500]
            code = err.get("code") or err.get("type") or err.get("status")
            return str(message), None if code is None else str(code)
        if isinstance(err, str):
            return err, None
    return raw[:500] or "(empty body)", None


def window_spent(headers: Mapping[str, str]) -> bool:
    """Whether rate-limit headers say a window is used up (OpenAI's and Anthropic's names)."""
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(_RATE_LIMIT_PREFIXES) and "remaining" in lowered:
            try:
                if float(value) <= 0:
                    return True
            except ValueError:
                continue
    return False


_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
_LIMIT_HEADERS = ("x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit")


def stated_request_limit(headers: Mapping[str, str]) -> float | None:
    """The key's requests-per-minute limit, as OpenAI and Anthropic state it in headers."""
    for name in _LIMIT_HEADERS:
        value = headers.get(name)
        if value:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def classify_status(status: int, body: Any, raw: str, headers: Mapping[str, str]) -> ProviderError:
    """A ProviderError for a non-2xx answer, classified for the engine."""
    message, code = _error_text(body, raw)
    text = f"HTTP {status}: {message}" + (f" ({code})" if code else "")
    retry_after = parse_retry_after(headers)
    if code in QUOTA_CODES:
        return ProviderError(text, ErrorKind.QUOTA, status, retry_after)
    if status in RETRYABLE_STATUS or status >= 500:
        spent = status == 429 and window_spent(headers)
        limit = stated_request_limit(headers) if status == 429 else None
        return ProviderError(text, ErrorKind.RETRYABLE, status, retry_after, spent, limit)
    return ProviderError(text, ErrorKind.FATAL, status, retry_after)


_TRANSPORT_ERRORS = (
    TimeoutError,
    aiohttp.ClientResponseError,
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    asyncio.IncompleteReadError,
)


def _transport_error(exc: BaseException, timeout: aiohttp.ClientTimeout) -> ProviderError:
    """aiohttp's failure (one of ``_TRANSPORT_ERRORS``) as a retryable ProviderError."""
    if isinstance(exc, TimeoutError):
        return ProviderError(f"timed out after {timeout.total} s (timeout_s)", ErrorKind.RETRYABLE)
    if isinstance(exc, aiohttp.TooManyRedirects):  # its message is empty; retrying loops again
        return ProviderError(
            f"too many redirects ({len(exc.history)}): the endpoint redirects in a loop; "
            "check its base URL",
            ErrorKind.FATAL,
            exc.status,
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        return ProviderError(f"bad response: {exc.message}", ErrorKind.RETRYABLE, exc.status)
    return ProviderError(f"connection failed: {type(exc).__name__}: {exc}", ErrorKind.RETRYABLE)


@contextlib.asynccontextmanager
async def transport_errors(
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - only named in messages
) -> AsyncIterator[None]:
    """Turn aiohttp's failures into retryable ProviderErrors."""
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        raise _transport_error(exc, timeout) from None


async def raise_for_status(resp: aiohttp.ClientResponse, classify: Classifier | None) -> None:
    if resp.status >= 400:
        raw = await resp.text()
        try:
            body: Any = wire_json.std_loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        raise (classify or classify_status)(resp.status, body, raw, resp.headers)


@contextlib.asynccontextmanager
async def _post(
    session: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeout
    classify: Classifier | None,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST ``payload``; the 2xx response, with failures turned into ProviderErrors."""
    async with (
        transport_errors(timeout),
        session.post(url, json=payload, headers=headers, timeout=timeout) as resp,
    ):
        await raise_for_status(resp, classify)
        yield resp


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, Any],
    *,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeout
    classify: Classifier | None = None,
) -> dict[str, Any]:
    """POST ``payload`` and return the JSON answer.

    ``classify`` turns a non-2xx answer into an error (:func:`classify_status` by default);
    providers pass their own for API-specific codes.

    Raises:
        ProviderError: retryable for timeouts, dropped connections, 408/429/5xx; fatal for
            other statuses and answers that are not JSON objects.
    """
    # Not through _post: two context managers less on every prompt's path (~3 us).
    try:
        async with session.post(url, json=payload, headers=headers, timeout=timeout) as resp:
            await raise_for_status(resp, classify)
            # The bytes go to the JSON parser as they are (it reads UTF-8 itself): decoding
            # them to text first cost a charset lookup and a copy per answer.
            raw = await resp.read()
    except _TRANSPORT_ERRORS as exc:
        raise _transport_error(exc, timeout) from None
    try:
        body: Any = wire_json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        text = raw[:200].decode("utf-8", errors="replace")
        raise ProviderError(
            f"HTTP {resp.status}: the answer is not a JSON object: {text!r}",
            ErrorKind.RETRYABLE,
            resp.status,
        )
    return body


STREAM_DONE = "[DONE]"
# The event name post_stream gives a whole JSON answer to a streamed request: some servers
# ignore ``stream`` and answer as if it were not set. The data is that answer, complete.
PLAIN_JSON = "runner:plain-json"
_EVENT_STREAM = "text/event-stream"


async def post_stream(
    session: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, Any],
    *,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeout
    classify: Classifier | None = None,
) -> AsyncIterator[tuple[str, Any]]:
    """POST ``payload`` and yield the ``(event, data)`` pairs of a server-sent event stream.

    ``data`` is the parsed JSON of each ``data:`` line, or :data:`STREAM_DONE`. Whether the
    stream ended properly is for the caller to judge (each API has its own end marker).
    A server that ignores ``stream`` and answers with one JSON object (not
    ``text/event-stream``) gives one pair ``(PLAIN_JSON, answer)``: a whole answer, not a
    stream cut short.

    Raises:
        ProviderError: as :func:`post_json`; retryable for a malformed chunk too.
    """
    async with _post(session, url, payload, headers, timeout, classify) as resp:
        if resp.content_type != _EVENT_STREAM:
            raw = await resp.text(errors="replace")
            whole = _json_object(raw)
            if whole is not None:
                yield PLAIN_JSON, whole
                return
            lines: AsyncIterator[str] | Iterator[str] = iter(raw.splitlines())
        else:
            lines = _decoded(resp.content)
        async for pair in _events(lines):
            yield pair


def _json_object(raw: str) -> dict[str, Any] | None:
    try:
        body = wire_json.std_loads(raw)
    except json.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


async def _decoded(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    async for raw_line in content:
        yield raw_line.decode("utf-8", errors="replace")


async def _events(lines: AsyncIterator[str] | Iterator[str]) -> AsyncIterator[tuple[str, Any]]:
    """The ``(event, data)`` pairs of server-sent event lines."""
    event = ""
    async for raw in _as_async(lines):
        line = raw.rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
            if data == STREAM_DONE:
                yield event, STREAM_DONE
                continue
            try:
                parsed = wire_json.std_loads(data)
            except json.JSONDecodeError:
                raise ProviderError(
                    f"malformed stream chunk: {data[:200]!r}", ErrorKind.RETRYABLE
                ) from None
            yield event, parsed
            event = ""


async def _as_async(lines: AsyncIterator[str] | Iterator[str]) -> AsyncIterator[str]:
    if isinstance(lines, Iterator):
        for line in lines:
            yield line
    else:
        async for line in lines:
            yield line
