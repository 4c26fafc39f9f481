"""HTTP for the batch endpoints: GET and POST of JSON, multipart uploads, file downloads.

Failures are classified as online ones are (runner.providers.http): a transport error or a
429/5xx is retryable, another 4xx is fatal. Downloads stream line by line, so a results
file of hundreds of megabytes is never held whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from runner.batch.transport import body_lines
from runner.errors import ErrorKind, ProviderError
from runner.providers.http import _raise_for_status, _transport_errors


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
) -> dict[str, Any]:
    """Send ``payload`` (JSON) or ``form`` (multipart) with ``method``; the JSON answer."""
    async with (
        _transport_errors(timeout),
        session.request(
            method, url, json=payload, data=form, headers=headers, timeout=timeout
        ) as resp,
    ):
        await _raise_for_status(resp, None)
        try:
            body = await resp.json(content_type=None)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderError(
                f"HTTP {resp.status} from {method} {url.split('?')[0]}: not a JSON object",
                ErrorKind.RETRYABLE,
                resp.status,
            )
        return body


async def lines_of(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeout
) -> AsyncIterator[str]:
    """The non-empty lines of the file at ``url`` (a JSONL download), as they arrive."""
    async with (
        _transport_errors(timeout),
        session.get(url, headers=headers, timeout=timeout) as resp,
    ):
        await _raise_for_status(resp, None)
        # Not aiohttp's readline: it refuses a line over 512 KiB (one long answer).
        async for raw in body_lines(resp.content):
            yield raw.decode("utf-8", errors="replace")


def jsonl_bytes(lines: list[dict[str, Any]]) -> bytes:
    """Batch input lines as a JSONL file."""
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


def jsonl_form(lines: list[dict[str, Any]], filename: str) -> aiohttp.FormData:
    """The multipart body of a ``/files`` upload with ``purpose=batch``."""
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("file", jsonl_bytes(lines), filename=filename, content_type="application/jsonl")
    return form
