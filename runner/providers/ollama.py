"""Ollama's native API: a string prompt to ``/api/generate``, conversations to ``/api/chat``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import ErrorKind, ProviderError
from runner.limits.quota import Accounting
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.answer_parts import tool_call
from runner.providers.base import (
    Completion,
    HttpProvider,
    model_variable,
    register,
)
from runner.providers.completion import MAX_TOKEN_COUNT
from runner.providers.messages import Message, run_chat
from runner.providers.usage import UsageCounts

# Request fields that sit beside ``options`` rather than in it; every other parameter is
# a model option (temperature, num_predict, seed, ...), as prompto sends them.
TOP_LEVEL_PARAMETERS = frozenset({"format", "keep_alive", "think", "tools"})


def ollama_message(message: Message, media_dir: Path) -> dict[str, Any]:
    """A chat message as Ollama takes it: text content plus base64 ``images``."""
    content = message["content"]
    shaped: dict[str, Any] = {"role": message["role"], "content": media.text_of(content)}
    if not isinstance(content, str):
        images = [p.data for p in media.parts(content, media_dir) if isinstance(p, media.Image)]
        if images:
            shaped["images"] = images
    return shaped


def request_body(model: str, params: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """A request: the model, ``stream: false``, options and top-level fields from ``params``."""
    body: dict[str, Any] = {k: v for k, v in params.items() if k in TOP_LEVEL_PARAMETERS}
    options = {k: v for k, v in params.items() if k not in TOP_LEVEL_PARAMETERS and k != "stream"}
    body.update(fields, model=model, stream=False)
    if options:
        body["options"] = options
    return body


def ollama_usage(body: dict[str, Any]) -> UsageCounts:
    """Ollama's counts, read by hand (genai-prices has no Ollama provider).

    Ollama reports ``prompt_eval_count`` (input) and ``eval_count`` (output, thinking
    included); it has no prompt cache billing and reports no reasoning count apart.
    """
    return UsageCounts(
        input_tokens=_count(body.get("prompt_eval_count")),
        output_tokens=_count(body.get("eval_count")),
    )


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_TOKEN_COUNT else None


def parse_ollama(body: dict[str, Any], model: str) -> Completion:
    """A Completion from an ``/api/generate`` or ``/api/chat`` answer."""
    message = body.get("message") if isinstance(body.get("message"), dict) else None
    if "response" in body:
        text, thinking = body["response"], body.get("thinking")
    elif message is not None:
        text, thinking = message.get("content"), message.get("thinking")
    else:
        raise ProviderError(f"the answer has no text: {str(body)[:200]}", ErrorKind.FATAL)
    calls = [
        tool_call((c.get("function") or {}).get("name"), (c.get("function") or {}).get("arguments"))
        for c in (message or {}).get("tool_calls") or []
        if isinstance(c, dict)
    ]
    completion = Completion(
        text=str(text or ""),
        finish_reason=body.get("done_reason"),
        model=body.get("model") or model,
        thinking=str(thinking) if thinking else None,
        tool_calls=calls or None,
    )
    return ollama_usage(body).fill(completion)


@dataclass
class OllamaApiConfig:
    """Settings of the ``ollama`` provider (native API)."""

    endpoint: str | None = None  # $OLLAMA_API_ENDPOINT, e.g. http://localhost:11434


# One line of ``--help`` per field of apis.ollama.
OLLAMA_HELP = {
    "endpoint": "null: $OLLAMA_API_ENDPOINT, e.g. http://localhost:11434",
}


@register
class OllamaProvider(HttpProvider):
    """``api: ollama``: the native API of an Ollama server.

    The server is ``apis.ollama.endpoint`` or ``OLLAMA_API_ENDPOINT``
    (``OLLAMA_API_ENDPOINT_<model_name>`` wins for that model); it needs no key.
    """

    api = "ollama"
    settings_class = OllamaApiConfig
    settings_help = OLLAMA_HELP
    structured_output = "ollama"
    free = True
    url_env = "OLLAMA_API_ENDPOINT"
    url_setting = "endpoint"
    token_accounting = Accounting.ACTUAL  # usage reported per answer corrects it
    sends_model_by_model = True  # it loads one model at a time

    def problems(self, record: PromptRecord) -> list[str]:
        found: list[str] = []
        if not record.model_name:
            found.append("missing field 'model_name' (the Ollama model to call)")
        if not self.base_url(record.model_name):
            found.append(
                "no Ollama endpoint: set OLLAMA_API_ENDPOINT (or "
                f"{model_variable('OLLAMA_API_ENDPOINT', record.model_name)}), "
                "e.g. http://localhost:11434"
            )
        # Ollama takes images as base64 only: a URL would have to be fetched first.
        found += media.media_problems(
            record.prompt, media.media_folder(self.context.settings), api=self.api, urls=False
        )
        return found

    async def complete(self, record: PromptRecord) -> Completion:
        model = record.model_name or ""
        endpoint = self.base_url(model)
        params = record.parameters
        media_dir = media.media_folder(self.context.settings)

        async def post(path: str, body: dict[str, Any]) -> Completion:
            answer = await self.post_json(f"{endpoint}{path}", body, headers={})
            return parse_ollama(answer, model)

        if isinstance(record.prompt, str) and "tools" not in params:  # generate takes no tools
            return await post("/api/generate", request_body(model, params, prompt=record.prompt))

        async def send(messages: list[Message]) -> Completion:
            shaped = [ollama_message(m, media_dir) for m in messages]
            return await post("/api/chat", request_body(model, params, messages=shaped))

        return await run_chat(record.prompt, send)
