"""OpenAI chat completions, against api.openai.com or any compatible server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import ErrorKind, ProviderError
from runner.limits.quota import TokenEstimate
from runner.limits.tokens import CHARS_PER_TOKEN, answer_tokens, conversation, turns
from runner.prompts.records import PromptRecord
from runner.providers import media, reasoning
from runner.providers.answer_parts import tier_of, tool_call
from runner.providers.base import (
    Completion,
    HttpClient,
    HttpProvider,
    ProviderContext,
    model_variable,
    register,
)
from runner.providers.http import PLAIN_JSON, STREAM_DONE
from runner.providers.messages import Message, run_chat
from runner.providers.openai_responses import Routes, send_responses
from runner.providers.stream_parts import StreamedCalls
from runner.providers.usage import read_usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def parse_chat_completion(body: dict[str, Any], usage_provider: str = "openai") -> Completion:
    """A Completion from an OpenAI-style ``chat.completion`` object.

    ``usage_provider``: whose usage block it is (genai-prices' id: ``openai``, ``azure``).
    """
    completion = _parse_choice(
        body, lambda choice: (choice.get("message") or {}).get("content"), usage_provider
    )
    message = (body["choices"][0] or {}).get("message") or {}
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        completion.tool_calls = [_chat_tool_call(c) for c in calls if isinstance(c, dict)]
    # OpenAI-compatible servers of reasoning models (vLLM, llama.cpp, DeepSeek, OpenRouter)
    # return the thinking beside the content, named one of these ways.
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        completion.thinking = reasoning
    return completion


def _chat_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return tool_call(function.get("name"), function.get("arguments"))


async def collect_chat_stream(
    events: AsyncIterator[tuple[str, Any]], usage_provider: str = "openai"
) -> Completion:
    """A Completion from streamed ``chat.completion.chunk``s (counts: the last one's ``usage``).

    Raises:
        ProviderError: retryable when the stream stops before its last chunk (a connection
            dropped mid-stream): the partial text is never taken for an answer.
    """
    parts: list[str] = []
    thoughts: list[str] = []
    calls = StreamedCalls()
    result = Completion(text="")
    ended = False
    whole: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
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
        result.service_tier = tier_of(chunk) or result.service_tier
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            parts.append(str(delta.get("content") or ""))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str):
                thoughts.append(reasoning)
            if delta.get("tool_calls"):
                calls.add(delta["tool_calls"])
            if choice.get("finish_reason"):
                result.finish_reason = choice["finish_reason"]
    if whole is not None:
        return parse_chat_completion(whole, usage_provider)
    if usage:
        read_usage({"usage": usage}, usage_provider, "chat").fill(result)
    if not ended and result.finish_reason is None:
        raise ProviderError(
            f"the stream ended mid-answer after {len(parts)} chunk(s) (connection dropped)",
            ErrorKind.RETRYABLE,
        )
    result.text = "".join(parts)
    result.thinking = "".join(thoughts) or None
    result.tool_calls = calls.calls()
    return result


def parse_text_completion(body: dict[str, Any]) -> Completion:
    """A Completion from an OpenAI-style ``text_completion`` object (``/v1/completions``)."""
    return _parse_choice(body, lambda choice: choice.get("text"), "openai")


def _parse_choice(
    body: dict[str, Any], text_of_choice: Callable[[dict[str, Any]], Any], usage_provider: str
) -> Completion:
    choices = body.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        raise ProviderError(f"the answer has no choices: {str(body)[:200]}", ErrorKind.FATAL)
    choice = choices[0]
    completion = Completion(
        text=str(text_of_choice(choice) or ""),
        finish_reason=choice.get("finish_reason"),
        model=body.get("model"),
        service_tier=tier_of(body),
    )
    return read_usage(body, usage_provider, "chat").fill(completion)


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
    provider: HttpClient,
    record: PromptRecord,
    url: str,
    headers: Mapping[str, str],
    model: str | None,
    usage_provider: str = "openai",
) -> Completion:
    """Send a record of any prompt form to an OpenAI-style ``chat/completions`` URL.

    Shared by the OpenAI-compatible APIs (openai, azure-openai, huggingface-tgi).
    ``model`` is left out of the payload when None (Azure names it in the URL);
    ``usage_provider`` reads the usage blocks (genai-prices' id).
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
            events = provider.post_stream(url, payload, headers=headers)
            return await collect_chat_stream(events, usage_provider)
        body = await provider.post_json(url, payload, headers=headers)
        return parse_chat_completion(body, usage_provider)

    return await run_chat(record.prompt, send)


def chat_request_estimate(
    record: PromptRecord, model: str | None, output_estimate: int
) -> TokenEstimate:
    """OpenAI's rule: the characters of the request body / 4, plus ``max_tokens``.

    The body is built as sent (images named by path count as their path, not their data).
    A multi-turn prompt is charged its whole conversation on each of its requests, and
    each earlier answer (at its bound) on every later request that sends it back.
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
    chars = len(json.dumps(payload))
    answer = answer_tokens(record, output_estimate)
    return conversation(chars / CHARS_PER_TOKEN, answer, turns(record))


@dataclass
class OpenAIApiConfig:
    """Settings of the ``openai`` provider; None means the environment variable."""

    # Keys are never written literally in a config: use ${oc.env:VAR} (see README).
    api_key: str | None = None
    base_url: str | None = None
    # chat (/chat/completions) | responses (/responses, the Responses API).
    endpoint: str = "chat"


# One line of ``--help`` per field of apis.openai.
OPENAI_HELP = {
    "api_key": "null: $OPENAI_API_KEY; never literal, use a ${oc.env:VAR} reference",
    "base_url": "null: $OPENAI_BASE_URL, else https://api.openai.com/v1",
    "endpoint": "chat (/chat/completions) or responses (the Responses API)",
}


@register
class OpenAIProvider(HttpProvider):
    """``api: openai``: chat completions.

    Key and base URL come from ``apis.openai`` or the environment: ``OPENAI_API_KEY`` /
    ``OPENAI_BASE_URL``; ``OPENAI_API_KEY_<model_name>`` wins for that model, as in prompto.
    """

    api = "openai"
    settings_class = OpenAIApiConfig
    settings_help = OPENAI_HELP
    structured_output = "openai_chat"
    price_provider = "openai"
    usage_provider = "openai"
    batch_adapter = "runner.batch.openai:OpenAIBatches"
    key_env = "OPENAI_API_KEY"
    url_env = "OPENAI_BASE_URL"
    default_url = DEFAULT_BASE_URL

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        # chat or responses: the model yaml's ``endpoint``, else ``apis.openai.endpoint``.
        self.route = Routes(context.settings, self.api, "openai", "endpoint")
        # Per model, built once (fixed in a run): (Responses API?, URL, headers).
        self._targets: dict[str, tuple[bool, str, dict[str, str]]] = {}

    def base_url(self, model_name: str | None) -> str:
        return self._url(model_name) or DEFAULT_BASE_URL

    def cache_identity(self, model_name: str | None) -> dict[str, Any]:
        identity = super().cache_identity(model_name)
        if self.route(model_name) == "responses":  # chat answers keep their old keys
            identity["endpoint"] = "responses"
        return identity

    def problems(self, record: PromptRecord) -> list[str]:
        model = record.model_name
        found = reasoning.openai_problems(model, record.parameters, self.route(model))
        if not model:
            found.append("missing field 'model_name' (the OpenAI model to call)")
        base_url = self.base_url(model)
        if not self.key(model) and base_url == DEFAULT_BASE_URL:
            found.append(
                "no OpenAI API key: set OPENAI_API_KEY (or "
                f"{model_variable('OPENAI_API_KEY', model)}), "
                "or point OPENAI_BASE_URL at a "
                "server that needs none"
            )
        found += self.url_login_problems(model) + media.media_problems(
            record.prompt, media.media_folder(self.context.settings), api=self.api
        )
        return found

    def estimate_tokens(self, record: PromptRecord) -> TokenEstimate:
        output = self.context.settings.output_tokens_estimate
        return chat_request_estimate(record, record.model_name or "", output)

    async def complete(self, record: PromptRecord) -> Completion:
        model = record.model_name or ""
        target = self._targets.get(model)
        if target is None:
            target = self._targets[model] = self._target(model)
        responses, url, headers = target
        if responses:
            return await send_responses(self, record, url, headers, model)
        return await send_chat_completions(self, record, url, headers, model)

    def _target(self, model: str) -> tuple[bool, str, dict[str, str]]:
        """Whether ``model`` takes the Responses API, the URL it is sent to, its headers."""
        key = self.key(model)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if self.route(model) == "responses":
            return True, f"{self.base_url(model)}/responses", headers
        return False, f"{self.base_url(model)}/chat/completions", headers
