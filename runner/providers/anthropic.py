"""Anthropic's Messages API, against api.anthropic.com or any compatible server."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from runner.engine.quota import Accounting
from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.base import (
    Completion,
    HttpProvider,
    model_variable,
    register,
    token_count,
)
from runner.providers.http import PLAIN_JSON, classify_status, post_json, post_stream
from runner.providers.messages import Message, run_chat

DEFAULT_BASE_URL = "https://api.anthropic.com"
# Error types that mean no request on this key will succeed until someone pays.
QUOTA_TYPES = frozenset({"billing_error"})


def classify_anthropic(
    status: int, body: Any, raw: str, headers: Mapping[str, str]
) -> ProviderError:
    """Anthropic's errors: 529 ``overloaded_error`` retries; billing problems stop the group."""
    error = classify_status(status, body, raw, headers)
    detail = body.get("error") if isinstance(body, dict) else None
    kind = detail.get("type") if isinstance(detail, dict) else None
    if kind == "overloaded_error":
        return dataclasses.replace(error, kind=ErrorKind.RETRYABLE)
    # An exhausted prepaid balance comes back as a plain 400 naming the credit balance.
    if kind in QUOTA_TYPES or (status == 400 and "credit balance" in error.message.lower()):
        return dataclasses.replace(error, kind=ErrorKind.QUOTA)
    return error


def anthropic_content(content: Any, media_dir: Path) -> Any:
    """A message's content as Anthropic blocks: a string as is, images as base64 or url."""
    if isinstance(content, str):
        return content
    blocks: list[dict[str, Any]] = []
    for part in media.parts(content, media_dir):
        if isinstance(part, media.Text):
            blocks.append({"type": "text", "text": part.text})
        elif part.url:
            blocks.append({"type": "image", "source": {"type": "url", "url": part.url}})
        else:
            source = {"type": "base64", "media_type": part.mime_type, "data": part.data}
            blocks.append({"type": "image", "source": source})
    return blocks


def anthropic_payload(
    messages: list[Message],
    model: str,
    params: Mapping[str, Any],
    default_max_tokens: int,
    media_dir: Path,
) -> dict[str, Any]:
    """The request body: the system message goes to ``system``, the rest to ``messages``."""
    payload: dict[str, Any] = {"max_tokens": default_max_tokens, **params, "model": model}
    turns = list(messages)
    if turns and turns[0]["role"] == "system":
        payload["system"] = media.text_of(turns.pop(0)["content"])
    payload["messages"] = [
        {"role": m["role"], "content": anthropic_content(m["content"], media_dir)} for m in turns
    ]
    return payload


def parse_message(body: dict[str, Any]) -> Completion:
    """A Completion from an Anthropic ``message`` object."""
    blocks = body.get("content")
    if not isinstance(blocks, list):
        raise ProviderError(f"the answer has no content: {str(body)[:200]}", ErrorKind.FATAL)
    text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
    usage = body.get("usage") or {}
    return Completion(
        text=text,
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        finish_reason=body.get("stop_reason"),
        model=body.get("model"),
    )


async def collect_message_stream(events: AsyncIterator[tuple[str, Any]]) -> Completion:
    """A Completion from a streamed Messages answer (``message_start`` ... ``message_stop``).

    Raises:
        ProviderError: retryable when the stream stops before ``message_stop`` (a connection
            dropped mid-stream) or carries an ``error`` event (e.g. overloaded).
    """
    parts: list[str] = []
    result = Completion(text="")
    ended = False
    whole: dict[str, Any] | None = None
    async for event, data in events:
        if event == PLAIN_JSON:  # the server ignored stream: this is the whole answer
            whole = data
            continue
        kind = data.get("type", event) if isinstance(data, dict) else event
        if kind == "message_start":
            message = data.get("message") or {}
            result.model = message.get("model")
            result.input_tokens = token_count((message.get("usage") or {}).get("input_tokens"))
        elif kind == "content_block_delta":
            parts.append(str((data.get("delta") or {}).get("text") or ""))
        elif kind == "message_delta":
            result.finish_reason = (data.get("delta") or {}).get("stop_reason")
            result.output_tokens = token_count((data.get("usage") or {}).get("output_tokens"))
        elif kind == "message_stop":
            ended = True
        elif kind == "error":
            detail = data.get("error") or {}
            raise ProviderError(
                f"stream error: {detail.get('message') or detail}", ErrorKind.RETRYABLE
            )
    if whole is not None:
        return parse_message(whole)
    if not ended:
        raise ProviderError(
            f"the stream ended mid-answer after {len(parts)} chunk(s) (connection dropped)",
            ErrorKind.RETRYABLE,
        )
    result.text = "".join(parts)
    return result


@register
class AnthropicProvider(HttpProvider):
    """``api: anthropic``: the Messages API.

    Key and base URL from ``apis.anthropic`` or ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``
    (``..._<model_name>`` wins for that model). ``max_tokens`` defaults to
    ``apis.anthropic.default_max_tokens`` (1024): the API refuses a request without it.
    """

    api = "anthropic"
    settings_block = "anthropic"
    key_env = "ANTHROPIC_API_KEY"
    url_env = "ANTHROPIC_BASE_URL"
    default_url = DEFAULT_BASE_URL
    token_accounting = Accounting.ACTUAL  # usage reported per answer corrects it

    def _base_url(self, model_name: str | None) -> str:
        return self._url(model_name) or DEFAULT_BASE_URL

    def problems(self, record: PromptRecord) -> list[str]:
        found: list[str] = []
        if not record.model_name:
            found.append("missing field 'model_name' (the Claude model to call)")
        if (
            not self._key(record.model_name)
            and self._base_url(record.model_name) == DEFAULT_BASE_URL
        ):
            found.append(
                "no Anthropic API key: set ANTHROPIC_API_KEY (or "
                f"{model_variable('ANTHROPIC_API_KEY', record.model_name)}), "
                "or point ANTHROPIC_BASE_URL at a "
                "server that needs none"
            )
        found += media.media_problems(
            record.prompt, media.media_folder(self.context.settings), api=self.api
        )
        return found

    async def complete(self, record: PromptRecord) -> Completion:
        cfg = self.context.settings.apis.anthropic
        model = record.model_name or ""
        headers = {"anthropic-version": cfg.version}
        key = self._key(model)
        if key:
            headers["x-api-key"] = key
        url = f"{self._base_url(model)}/v1/messages"
        params = dict(record.parameters)
        media_dir = media.media_folder(self.context.settings)

        async def send(messages: list[Message]) -> Completion:
            payload = anthropic_payload(messages, model, params, cfg.default_max_tokens, media_dir)
            if params.get("stream"):
                events = post_stream(
                    self.context.http(),
                    url,
                    payload,
                    headers=headers,
                    timeout=self.context.timeout,
                    classify=classify_anthropic,
                )
                return await collect_message_stream(events)
            body = await post_json(
                self.context.http(),
                url,
                payload,
                headers=headers,
                timeout=self.context.timeout,
                classify=classify_anthropic,
            )
            return parse_message(body)

        return await run_chat(record.prompt, send)
