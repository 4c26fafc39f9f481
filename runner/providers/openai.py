"""OpenAI chat completions, against api.openai.com or any compatible server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from runner.engine.quota import TokenEstimate
from runner.engine.tokens import CHARS_PER_TOKEN, answer_tokens, turns
from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.base import (
    Completion,
    HttpProvider,
    Provider,
    model_variable,
    register,
    token_count,
)
from runner.providers.http import PLAIN_JSON, STREAM_DONE, post_json, post_stream
from runner.providers.messages import Message, run_chat

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def parse_chat_completion(body: dict[str, Any]) -> Completion:
    """A Completion from an OpenAI-style ``chat.completion`` object."""
    return _parse_choice(body, lambda choice: (choice.get("message") or {}).get("content"))


async def collect_chat_stream(events: AsyncIterator[tuple[str, Any]]) -> Completion:
    """A Completion from a streamed ``chat.completion.chunk`` sequence.

    Raises:
        ProviderError: retryable when the stream stops before its last chunk (a connection
            dropped mid-stream): the partial text is never taken for an answer.
    """
    parts: list[str] = []
    result = Completion(text="")
    ended = False
    whole: dict[str, Any] | None = None
    async for event, chunk in events:
        if event == PLAIN_JSON:  # the server ignored stream: this is the whole answer
            whole = chunk
            continue
        if chunk == STREAM_DONE:
            ended = True
            continue
        if not isinstance(chunk, dict):
            continue
        result.model = chunk.get("model") or result.model
        usage = chunk.get("usage") or {}
        if usage:
            result.input_tokens = token_count(usage.get("prompt_tokens"), "prompt_tokens")
            result.output_tokens = token_count(usage.get("completion_tokens"), "completion_tokens")
        for choice in chunk.get("choices") or []:
            parts.append(str((choice.get("delta") or {}).get("content") or ""))
            if choice.get("finish_reason"):
                result.finish_reason = choice["finish_reason"]
    if whole is not None:
        return parse_chat_completion(whole)
    if not ended and result.finish_reason is None:
        raise ProviderError(
            f"the stream ended mid-answer after {len(parts)} chunk(s) (connection dropped)",
            ErrorKind.RETRYABLE,
        )
    result.text = "".join(parts)
    return result


def parse_text_completion(body: dict[str, Any]) -> Completion:
    """A Completion from an OpenAI-style ``text_completion`` object (``/v1/completions``)."""
    return _parse_choice(body, lambda choice: choice.get("text"))


def _parse_choice(
    body: dict[str, Any], text_of_choice: Callable[[dict[str, Any]], Any]
) -> Completion:
    choices = body.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        raise ProviderError(f"the answer has no choices: {str(body)[:200]}", ErrorKind.FATAL)
    choice = choices[0]
    usage = body.get("usage") or {}
    return Completion(
        text=str(text_of_choice(choice) or ""),
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        finish_reason=choice.get("finish_reason"),
        model=body.get("model"),
    )


def openai_content(content: Any, media_dir: Path) -> Any:
    """A message's content in OpenAI's shape: a string as is, parts as text / image_url."""
    if isinstance(content, str):
        return content
    shaped: list[dict[str, Any]] = []
    for part in media.parts(content, media_dir):
        if isinstance(part, media.Text):
            shaped.append({"type": "text", "text": part.text})
        else:
            image_url = {"url": part.data_url}
            if part.detail:
                image_url["detail"] = part.detail
            shaped.append({"type": "image_url", "image_url": image_url})
    return shaped


async def send_chat_completions(
    provider: Provider,
    record: PromptRecord,
    url: str,
    headers: Mapping[str, str],
    model: str | None,
) -> Completion:
    """Send a record of any prompt form to an OpenAI-style ``chat/completions`` URL.

    Shared by the OpenAI-compatible APIs (openai, azure-openai, huggingface-tgi).
    ``model`` is left out of the payload when None (Azure names it in the URL).
    """
    context = provider.context
    media_dir = media.media_folder(context.settings)
    params = record.parameters

    async def send(messages: list[Message]) -> Completion:
        shaped = [{**m, "content": openai_content(m["content"], media_dir)} for m in messages]
        payload: dict[str, Any] = {**params, "messages": shaped}
        if model is not None:
            payload["model"] = model
        if params.get("stream"):
            payload.setdefault("stream_options", {"include_usage": True})
            events = post_stream(
                context.http(), url, payload, headers=headers, timeout=context.timeout
            )
            return await collect_chat_stream(events)
        body = await post_json(
            context.http(), url, payload, headers=headers, timeout=context.timeout
        )
        return parse_chat_completion(body)

    return await run_chat(record.prompt, send)


def chat_request_estimate(
    record: PromptRecord, model: str | None, output_estimate: int
) -> TokenEstimate:
    """OpenAI's rule: the characters of the request body / 4, plus ``max_tokens``.

    The body is built as sent (images named by path count as their path, not their data).
    A multi-turn prompt is charged its whole conversation on each of its requests.
    """
    prompt = record.prompt
    if isinstance(prompt, str):
        messages: Any = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        messages = [{"role": "user", "content": p} for p in prompt]
    else:
        messages = prompt
    payload: dict[str, Any] = {**record.parameters, "messages": messages}
    if model is not None:
        payload["model"] = model
    if record.parameters.get("stream"):
        payload.setdefault("stream_options", {"include_usage": True})
    n = turns(record)
    chars = len(json.dumps(payload))
    return TokenEstimate(chars / CHARS_PER_TOKEN * n, answer_tokens(record, output_estimate) * n)


@register
class OpenAIProvider(HttpProvider):
    """``api: openai``: chat completions.

    Key and base URL come from ``apis.openai`` or the environment: ``OPENAI_API_KEY`` /
    ``OPENAI_BASE_URL``; ``OPENAI_API_KEY_<model_name>`` wins for that model, as in prompto.
    """

    api = "openai"
    settings_block = "openai"
    key_env = "OPENAI_API_KEY"
    url_env = "OPENAI_BASE_URL"
    default_url = DEFAULT_BASE_URL

    def _base_url(self, model_name: str | None) -> str:
        return self._url(model_name) or DEFAULT_BASE_URL

    def problems(self, record: PromptRecord) -> list[str]:
        found = []
        model = record.model_name
        if not model:
            found.append("missing field 'model_name' (the OpenAI model to call)")
        base_url = self._base_url(model)
        if not self._key(model) and base_url == DEFAULT_BASE_URL:
            found.append(
                "no OpenAI API key: set OPENAI_API_KEY (or "
                f"{model_variable('OPENAI_API_KEY', model)}), "
                "or point OPENAI_BASE_URL at a "
                "server that needs none"
            )
        found += media.media_problems(
            record.prompt, media.media_folder(self.context.settings), api=self.api
        )
        return found

    def estimate_tokens(self, record: PromptRecord) -> TokenEstimate:
        output = self.context.settings.output_tokens_estimate
        return chat_request_estimate(record, record.model_name or "", output)

    async def complete(self, record: PromptRecord) -> Completion:
        model = record.model_name or ""
        key = self._key(model)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = f"{self._base_url(model)}/chat/completions"
        return await send_chat_completions(self, record, url, headers, model)
