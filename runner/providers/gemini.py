"""Google AI's Gemini API (``generateContent``, API version v1beta), or a compatible server."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.base import (
    Completion,
    HttpProvider,
    parameters_without,
    register,
)
from runner.providers.http import classify_status, post_json
from runner.providers.messages import Message, run_chat

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
# google.rpc status codes worth another attempt (RESOURCE_EXHAUSTED: rate or token limit).
RETRYABLE_STATUSES = frozenset(
    {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED"}
)
ROLES = {"user": "user", "assistant": "model"}


def _retry_delay(detail: Mapping[str, Any]) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "37s"``), if any."""
    for item in detail.get("details") or []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(delay or ""))
        if match:
            return float(match.group(1))
    return None


def classify_gemini(status: int, body: Any, raw: str, headers: Mapping[str, str]) -> ProviderError:
    """Gemini's errors, by their google.rpc status: RESOURCE_EXHAUSTED and the like retry."""
    error = classify_status(status, body, raw, headers)
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict) or not isinstance(detail.get("status"), str):
        return error
    rpc_status = detail["status"]
    kind = ErrorKind.RETRYABLE if rpc_status in RETRYABLE_STATUSES else error.kind
    return dataclasses.replace(
        error,
        message=f"HTTP {status}: {detail.get('message', '')} ({rpc_status})",
        kind=kind,
        retry_after=error.retry_after if error.retry_after is not None else _retry_delay(detail),
    )


def gemini_parts(content: Any, media_dir: Path) -> list[dict[str, Any]]:
    """A message's content as Gemini parts: text, inline base64 data, or a file URI."""
    shaped: list[dict[str, Any]] = []
    for part in media.parts(content, media_dir):
        if isinstance(part, media.Text):
            shaped.append({"text": part.text})
        elif part.url:
            shaped.append({"fileData": {"mimeType": part.mime_type, "fileUri": part.url}})
        else:
            shaped.append({"inlineData": {"mimeType": part.mime_type, "data": part.data}})
    return shaped


def gemini_payload(
    messages: list[Message], params: Mapping[str, Any], media_dir: Path
) -> dict[str, Any]:
    """The request body: the system message to ``systemInstruction``, roles user/model."""
    payload: dict[str, Any] = {}
    turns = list(messages)
    if turns and turns[0]["role"] == "system":
        payload["systemInstruction"] = {"parts": gemini_parts(turns.pop(0)["content"], media_dir)}
    payload["contents"] = [
        {"role": ROLES[m["role"]], "parts": gemini_parts(m["content"], media_dir)} for m in turns
    ]
    if params:
        # Parameters are generation settings (temperature, max_output_tokens, ...).
        payload["generationConfig"] = dict(params)
    return payload


def parse_generate_content(body: dict[str, Any], model: str) -> Completion:
    """A Completion from a ``GenerateContentResponse``."""
    candidates = body.get("candidates") or []
    if not candidates:
        feedback = body.get("promptFeedback") or {}
        reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        raise ProviderError(
            f"the answer has no candidates (prompt blocked: {reason or 'no reason given'})",
            ErrorKind.FATAL,
        )
    candidate = candidates[0]
    parts = (candidate.get("content") or {}).get("parts") or []
    usage = body.get("usageMetadata") or {}
    return Completion(
        text="".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)),
        input_tokens=usage.get("promptTokenCount"),
        output_tokens=usage.get("candidatesTokenCount"),
        finish_reason=candidate.get("finishReason"),
        model=body.get("modelVersion") or model,
    )


@register
class GeminiProvider(HttpProvider):
    """``api: gemini``: Google AI ``generateContent``.

    Key and base URL from ``apis.gemini`` or ``GEMINI_API_KEY`` / ``GEMINI_BASE_URL``
    (``..._<model_name>`` wins for that model). ``parameters`` go in ``generationConfig``.
    """

    api = "gemini"
    settings_block = "gemini"
    key_env = "GEMINI_API_KEY"
    url_env = "GEMINI_BASE_URL"
    default_url = DEFAULT_BASE_URL

    def _base_url(self, model_name: str | None) -> str:
        return self._url(model_name) or DEFAULT_BASE_URL

    def problems(self, record: PromptRecord) -> list[str]:
        found: list[str] = []
        if not record.model_name:
            found.append("missing field 'model_name' (the Gemini model to call)")
        if (
            not self._key(record.model_name)
            and self._base_url(record.model_name) == DEFAULT_BASE_URL
        ):
            found.append(
                "no Gemini API key: set GEMINI_API_KEY (or GEMINI_API_KEY_"
                f"{record.model_name or '<model_name>'}), or point GEMINI_BASE_URL at a "
                "server that needs none"
            )
        media_dir = media.media_folder(self.context.settings)
        found += media.media_problems(record.prompt, media_dir, api=self.api)
        for i, part in media.image_parts(record.prompt):
            url = part.get("url")
            if url and media.mime_type_of(str(url), part.get("mime_type")) is None:
                found.append(
                    f"'prompt'[{i}]: Gemini needs the type of image url {url!r}; add "
                    "'mime_type' (e.g. image/png) to the part"
                )
        return found

    async def complete(self, record: PromptRecord) -> Completion:
        model = record.model_name or ""
        key = self._key(model)
        headers = {"x-goog-api-key": key} if key else {}
        url = f"{self._base_url(model)}/models/{model}:generateContent"
        params = parameters_without(record.parameters, "stream")
        media_dir = media.media_folder(self.context.settings)

        async def send(messages: list[Message]) -> Completion:
            body = await post_json(
                self.context.http(),
                url,
                gemini_payload(messages, params, media_dir),
                headers=headers,
                timeout=self.context.timeout,
                classify=classify_gemini,
            )
            return parse_generate_content(body, model)

        return await run_chat(record.prompt, send)
