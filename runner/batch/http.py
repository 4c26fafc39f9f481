"""HTTP for the batch endpoints: JSON requests, multipart uploads, JSONL downloads.

Failures are classified exactly as the online requests' are (runner.providers.http; the
provider's own classifier where one is given): a transport error or a 429/5xx is
retryable, another 4xx is fatal, so a poll that fails is a retryable ProviderError the
batch engine waits out. Downloads stream line by line, whatever a line's length, so a
results file of hundreds of megabytes is never held whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import aiohttp

from runner.errors import ErrorKind, ProviderError

# The online helpers' error handling, shared so that a batch request fails the same way.
from runner.providers.http import Classifier, raise_for_status, transport_errors


def transfer_timeout(timeout_s: float) -> aiohttp.ClientTimeout:
    """No total cap for a file of any size; ``timeout_s`` between two reads."""
    return aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeout
    payload: Mapping[str, Any] | None = None,
    form: aiohttp.FormData | None = None,
    params: Mapping[str, str] | None = None,
    classify: Classifier | None = None,
) -> dict[str, Any]:
    """Send ``payload`` (JSON) or ``form`` (multipart) with ``method``; the JSON answer.

    Raises:
        ProviderError: classified as online; retryable for an answer that is not a JSON
            object (a proxy's error page, a body cut short).
    """
    async with (
        transport_errors(timeout),
        session.request(
            method, url, json=payload, data=form, headers=headers, timeout=timeout, params=params
        ) as resp,
    ):
        await raise_for_status(resp, classify)
        raw = await resp.read()
    try:
        body: Any = json.loads(raw) if raw else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        text = raw[:200].decode("utf-8", errors="replace")
        raise ProviderError(
            f"HTTP {resp.status} from {method} {url.split('?')[0]}: the answer is not a JSON "
            f"object: {text!r}",
            ErrorKind.RETRYABLE,
            resp.status,
        )
    return body


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeout
    classify: Classifier | None = None,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """GET ``url`` and return its JSON object (see :func:`request_json`)."""
    return await request_json(
        session, "GET", url, headers=headers, timeout=timeout, params=params, classify=classify
    )


async def lines_of(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeout
    classify: Classifier | None = None,
) -> AsyncGenerator[str]:
    """The non-empty lines of the file at ``url`` (a JSONL download), as they arrive."""
    async with (
        transport_errors(timeout),
        session.get(url, headers=headers, timeout=timeout) as resp,
    ):
        await raise_for_status(resp, classify)
        async for raw in body_lines(resp.content):
            yield raw.decode("utf-8", errors="replace")


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


def jsonl_bytes(lines: list[dict[str, Any]]) -> bytes:
    """Batch input lines as a JSONL file."""
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


def jsonl_form(lines: list[dict[str, Any]], filename: str) -> aiohttp.FormData:
    """The multipart body of a ``/files`` upload with ``purpose=batch``."""
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("file", jsonl_bytes(lines), filename=filename, content_type="application/jsonl")
    return form


def id_in(body: Any, key: str, what: str) -> str:
    """``body[key]`` as text: the id an API's answer to ``what`` must carry.

    Raises:
        ProviderError: (retryable, HTTP 200) the answer has no such id: the step may have
            been taken, so a create is looked up by its tag before it is tried again.
    """
    found = body.get(key) if isinstance(body, dict) else None
    if not isinstance(found, str | int) or isinstance(found, bool) or not str(found):
        raise ProviderError(
            f"the answer to {what} has no {key!r}: {str(body)[:200]!r}", ErrorKind.RETRYABLE, 200
        )
    return str(found)


def objects(found: Any) -> list[dict[str, Any]]:
    """The JSON objects of a list an API answered (anything else in it, or no list: none)."""
    return [x for x in found if isinstance(x, dict)] if isinstance(found, list) else []
