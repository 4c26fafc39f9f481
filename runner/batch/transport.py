"""HTTP reads the batch adapters need beside ``post_json``: a JSON GET and a JSONL stream.

Failures are classified exactly as the online requests' are (the provider's classifier
for non-2xx answers; timeouts and dropped connections retryable), so a poll that fails is
a retryable ProviderError the batch engine can wait out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import aiohttp

from runner.errors import ErrorKind, ProviderError

# The online helpers' error handling, shared so that a batch request fails the same way.
from runner.providers.http import Classifier, _raise_for_status, _transport_errors


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeout
    classify: Classifier | None = None,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """GET ``url`` and return its JSON object (an answer that is not one is retryable)."""
    async with (
        _transport_errors(timeout),
        session.get(url, headers=headers, timeout=timeout, params=params) as resp,
    ):
        await _raise_for_status(resp, classify)
        raw = await resp.read()
    try:
        body: Any = json.loads(raw) if raw else {}
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


async def get_json_lines(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeout
    classify: Classifier | None = None,
) -> AsyncGenerator[dict[str, Any]]:
    """GET a JSONL document and yield its objects one by one, never the whole file at once.

    A results file holds up to 256 MB: it is read line by line as it arrives.

    Raises:
        ProviderError: as :func:`get_json`; retryable for a line that is not JSON (a file
            cut short), so the batch's results are read again rather than half taken.
    """
    # Whole-download timeouts would cut a large results file: only the connection's.
    stream_timeout = aiohttp.ClientTimeout(sock_connect=timeout.total, sock_read=timeout.total)
    async with (
        _transport_errors(timeout),
        session.get(url, headers=headers, timeout=stream_timeout) as resp,
    ):
        await _raise_for_status(resp, classify)
        async for line in body_lines(resp.content):
            try:
                item = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ProviderError(
                    f"a results line is not JSON: {line[:200]!r}", ErrorKind.RETRYABLE
                ) from None
            if isinstance(item, dict):
                yield item


async def body_lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The non-empty lines of a body, however long (aiohttp's readline refuses one over 512 KiB)."""
    pending = bytearray()
    async for chunk in content.iter_any():
        scanned = len(pending)  # the part before holds no newline: not searched again
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", max(start, scanned))) != -1:
            line = bytes(pending[start:end]).strip()
            if line:
                yield line
            start = end + 1
        del pending[:start]
    if bytes(pending).strip():
        yield bytes(pending).strip()
