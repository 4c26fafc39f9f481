"""Anthropic's Messages API, against api.anthropic.com or any compatible server."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import ErrorKind, ProviderError
from runner.limits.quota import Accounting, TokenEstimate, Usage
from runner.limits.tokens import estimate_split
from runner.prompts.records import PromptRecord
from runner.providers import media, reasoning
from runner.providers.answer_parts import joined, tool_call
from runner.providers.base import (
    Completion,
    HttpProvider,
    model_variable,
    register,
)
from runner.providers.http import PLAIN_JSON, classify_status
from runner.providers.messages import Message, run_chat
from runner.providers.stream_parts import StreamedBlocks
from runner.providers.usage import read_usage

DEFAULT_BASE_URL = "https://api.anthropic.com"
# Models whose input-token limit (ITPM) counts cache reads: the rate-limit docs mark them
# with a dagger (older models); runner counts them for every Claude 3.x model, the safe side.
# https://docs.anthropic.com/en/api/rate-limits
ITPM_COUNTS_CACHE_READS = ("claude-3-",)
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
    thoughts = [str(b.get("thinking") or "") for b in blocks if b.get("type") == "thinking"]
    calls = [
        tool_call(b.get("name"), b.get("input")) for b in blocks if b.get("type") == "tool_use"
    ]
    completion = Completion(
        text=text,
        finish_reason=body.get("stop_reason"),
        model=body.get("model"),
        thinking=joined(thoughts),
        tool_calls=calls or None,
    )
    return read_usage(body, "anthropic").fill(completion)


async def collect_message_stream(events: AsyncIterator[tuple[str, Any]]) -> Completion:
    """A Completion from a streamed Messages answer (``message_start`` ... ``message_stop``).

    Its counts: ``message_start``'s usage (input, cache writes and reads), updated by the
    last ``message_delta``'s (output, and any count it repeats).

    Raises:
        ProviderError: retryable when the stream stops before ``message_stop`` (a connection
            dropped mid-stream) or carries an ``error`` event (e.g. overloaded).
    """
    blocks = StreamedBlocks()
    result = Completion(text="")
    ended = False
    whole: dict[str, Any] | None = None
    usage: dict[str, Any] = {}
    async for event, data in events:
        if event == PLAIN_JSON:  # the server ignored stream: this is the whole answer
            whole = data
            continue
        kind = data.get("type", event) if isinstance(data, dict) else event
        if kind == "message_start":
            message = data.get("message") or {}
            result.model = message.get("model")
            usage.update(message.get("usage") or {})
        elif kind == "content_block_start":
            blocks.start(data)
        elif kind == "content_block_delta":
            blocks.delta(data)
        elif kind == "message_delta":
            result.finish_reason = (data.get("delta") or {}).get("stop_reason")
            delta_usage = data.get("usage") or {}
            usage.update({k: v for k, v in delta_usage.items() if v is not None})
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
            f"the stream ended mid-answer after {len(blocks.text)} chunk(s) (connection dropped)",
            ErrorKind.RETRYABLE,
        )
    blocks.fill(result)
    return read_usage({"usage": usage}, "anthropic").fill(result) if usage else result


# Structured output as the beta path names it (``output_format``); the API takes it with this
# header (https://docs.claude.com/en/docs/build-with-claude/structured-outputs).
STRUCTURED_OUTPUTS_BETA = "structured-outputs-2025-11-13"


def beta_headers(params: Mapping[str, Any]) -> dict[str, str]:
    """The ``anthropic-beta`` header a request with these parameters needs (none: empty)."""
    return {"anthropic-beta": STRUCTURED_OUTPUTS_BETA} if "output_format" in params else {}


@dataclass
class AnthropicApiConfig:
    """Settings of the ``anthropic`` provider (Messages API); None means the environment."""

    api_key: str | None = None  # $ANTHROPIC_API_KEY
    base_url: str | None = None  # $ANTHROPIC_BASE_URL, else https://api.anthropic.com
    version: str = "2023-06-01"  # the anthropic-version header
    # Anthropic requires max_tokens; sent when a prompt's parameters give none.
    default_max_tokens: int = 1024


# One line of ``--help`` per field of apis.anthropic.
ANTHROPIC_HELP = {
    "api_key": "null: $ANTHROPIC_API_KEY",
    "base_url": "null: $ANTHROPIC_BASE_URL, else https://api.anthropic.com",
    "version": "the anthropic-version header",
    "default_max_tokens": "sent when a prompt's parameters give no max_tokens",
}


@register
class AnthropicProvider(HttpProvider):
    """``api: anthropic``: the Messages API.

    Key and base URL from ``apis.anthropic`` or ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``
    (``..._<model_name>`` wins for that model). ``max_tokens`` defaults to
    ``apis.anthropic.default_max_tokens`` (1024): the API refuses a request without it.
    """

    api = "anthropic"
    settings_class = AnthropicApiConfig
    settings_help = ANTHROPIC_HELP
    structured_output = "anthropic"
    price_provider = "anthropic"
    usage_provider = "anthropic"
    batch_adapter = "runner.batch.anthropic:AnthropicBatches"
    key_env = "ANTHROPIC_API_KEY"
    url_env = "ANTHROPIC_BASE_URL"
    default_url = DEFAULT_BASE_URL
    token_accounting = Accounting.ACTUAL  # usage reported per answer corrects it
    error_classifier = classify_anthropic

    def base_url(self, model_name: str | None) -> str:
        return self._url(model_name) or DEFAULT_BASE_URL

    def estimate_tokens(self, record: PromptRecord) -> TokenEstimate:
        """chars / 4, and the ``max_tokens`` sent (the default when none is given)."""
        settings = self.context.settings
        return estimate_split(
            record, settings.output_tokens_estimate, self.settings().default_max_tokens
        )

    def limit_usage(self, completion: Completion, model_name: str | None) -> Usage:
        """The billed counts, less cache reads: Anthropic's ITPM leaves them out.

        "cache_read_input_tokens do not count towards ITPM" for most models (input tokens
        and cache writes do); https://docs.anthropic.com/en/api/rate-limits.
        """
        tokens_in, reads = completion.input_tokens, completion.cached_input_tokens
        if (
            tokens_in is not None
            and reads
            and not (model_name or "").startswith(ITPM_COUNTS_CACHE_READS)
        ):
            tokens_in -= reads
        return Usage(tokens_in, completion.output_tokens)

    def problems(self, record: PromptRecord) -> list[str]:
        found: list[str] = []
        if not record.model_name:
            found.append("missing field 'model_name' (the Claude model to call)")
        if not self.key(record.model_name) and self.base_url(record.model_name) == DEFAULT_BASE_URL:
            found.append(
                "no Anthropic API key: set ANTHROPIC_API_KEY (or "
                f"{model_variable('ANTHROPIC_API_KEY', record.model_name)}), "
                "or point ANTHROPIC_BASE_URL at a "
                "server that needs none"
            )
        found += media.media_problems(
            record.prompt, media.media_folder(self.context.settings), api=self.api
        )
        cfg: AnthropicApiConfig = self.settings()
        return found + reasoning.anthropic_problems(record.parameters, cfg.default_max_tokens)

    async def complete(self, record: PromptRecord) -> Completion:
        cfg: AnthropicApiConfig = self.settings()
        model = record.model_name or ""
        headers = {"anthropic-version": cfg.version, **beta_headers(record.parameters)}
        key = self.key(model)
        if key:
            headers["x-api-key"] = key
        url = f"{self.base_url(model)}/v1/messages"
        params = dict(record.parameters)
        media_dir = media.media_folder(self.context.settings)

        async def send(messages: list[Message]) -> Completion:
            payload = anthropic_payload(messages, model, params, cfg.default_max_tokens, media_dir)
            if params.get("stream"):
                events = self.post_stream(url, payload, headers=headers)
                return await collect_message_stream(events)
            body = await self.post_json(url, payload, headers=headers)
            return parse_message(body)

        return await run_chat(record.prompt, send)
