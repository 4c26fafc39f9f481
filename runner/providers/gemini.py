"""Google AI's Gemini API (``generateContent``, API version v1beta), or a compatible server."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import ErrorKind, ProviderError
from runner.prompts.parts import MEDIA_KINDS
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.answer_parts import joined, tool_call
from runner.providers.base import (
    Completion,
    HttpProvider,
    Provider,
    ProviderContext,
    model_variable,
    parameters_without,
    register,
)
from runner.providers.gemini_content import gemini_payload, safety_problem
from runner.providers.gemini_files import GeminiFiles
from runner.providers.http import classify_status
from runner.providers.messages import Message, run_chat
from runner.providers.usage import read_usage

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
# google.rpc status codes worth another attempt (RESOURCE_EXHAUSTED: rate or token limit).
RETRYABLE_STATUSES = frozenset(
    {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED"}
)


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
    message = str(detail.get("message", ""))
    gone = missing_file(status, message)
    if gone is not None:  # not the key's or the model's refusal: this prompt's file is gone
        message += f" (the File API no longer holds {gone}: uploads expire after 48 hours)"
    return dataclasses.replace(
        error,
        message=f"HTTP {status}: {message} ({rpc_status})",
        kind=kind,
        retry_after=error.retry_after if error.retry_after is not None else _retry_delay(detail),
        prompt_only=gone is not None,
    )


def missing_file(status: int, message: str) -> str | None:
    """The File API name a 403 says Gemini does not hold ("You do not have permission to
    access the File x or it may not exist"), or None: a 403 of another meaning."""
    found = _MISSING_FILE.search(message) if status == 403 else None
    return found.group(1) if found else None


_MISSING_FILE = re.compile(r"permission to access the File (\S+?) or it may not exist")


def parse_generate_content(body: dict[str, Any], model: str) -> Completion:
    """A Completion from a ``GenerateContentResponse`` (Gemini API or Vertex AI).

    Its counts (``usageMetadata``) are read by genai-prices' ``google`` extractor: Vertex AI
    answers the same block (cached content, thoughts, tool-use prompt tokens).
    """
    candidates = body.get("candidates") or []
    if not candidates:
        feedback = body.get("promptFeedback") or {}
        reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        raise ProviderError(
            f"the answer has no candidates (prompt blocked: {reason or 'no reason given'})",
            ErrorKind.FATAL,
        )
    candidate = candidates[0]
    parts = [p for p in (candidate.get("content") or {}).get("parts") or [] if isinstance(p, dict)]
    # Thought summaries (thinkingConfig.includeThoughts) are parts marked thought: true.
    thoughts = [str(p.get("text", "")) for p in parts if p.get("thought")]
    calls = [
        tool_call(p["functionCall"].get("name"), p["functionCall"].get("args"))
        for p in parts
        if isinstance(p.get("functionCall"), dict)
    ]
    completion = Completion(
        text="".join(str(p.get("text", "")) for p in parts if not p.get("thought")),
        finish_reason=candidate.get("finishReason"),
        model=body.get("modelVersion") or model,
        thinking=joined(thoughts),
        tool_calls=calls or None,
    )
    return read_usage(body, "google").fill(completion)


def content_problems(
    provider: Provider, record: PromptRecord, max_inline_bytes: int | None, *, uploads: bool = False
) -> list[str]:
    """What Gemini and Vertex AI refuse in a record's content: safety filter, media, URLs."""
    found: list[str] = []
    problem = safety_problem(record.data)
    if problem:
        found.append(problem)
    found += media.media_problems(
        record.prompt,
        media.media_folder(provider.context.settings),
        api=provider.api,
        kinds=MEDIA_KINDS,
        mime_types=None,
        max_inline_bytes=max_inline_bytes,
        uploads=uploads,
    )
    return found + url_type_problems(record.prompt)


def url_type_problems(prompt: Any) -> list[str]:
    """Gemini's fileData needs a MIME type: media URLs without a telling extension need one."""
    found: list[str] = []
    for i, j, part in media.media_parts(prompt):
        url = part.get("url")
        if url and media.mime_type_of(str(url), part.get("mime_type")) is None:
            found.append(
                f"'prompt'[{i}] part {j}: Gemini needs the type of {part['type']} url {url!r}; "
                "add 'mime_type' (e.g. image/png) to the part"
            )
    return found


@dataclass
class GeminiApiConfig:
    """Settings of the ``gemini`` provider (Google AI generateContent, v1beta)."""

    api_key: str | None = None  # $GEMINI_API_KEY
    # $GEMINI_BASE_URL, else https://generativelanguage.googleapis.com/v1beta
    base_url: str | None = None
    # Media files larger than this (bytes) go through the File API instead of inline.
    inline_limit: int = 20_000_000
    # false: never use the File API (a larger file is then refused by the check).
    file_api: bool = True


# One line of ``--help`` per field of apis.gemini.
GEMINI_HELP = {
    "api_key": "null: $GEMINI_API_KEY",
    "base_url": "null: $GEMINI_BASE_URL, else Google AI's v1beta",
    "inline_limit": "bytes of media sent inline; larger files go through the File API",
    "file_api": "upload large media through the Gemini File API (reused by hash)",
}


@register
class GeminiProvider(HttpProvider):
    """``api: gemini``: Google AI ``generateContent``.

    Key and base URL from ``apis.gemini`` or ``GEMINI_API_KEY`` / ``GEMINI_BASE_URL``
    (``..._<model_name>`` wins for that model). ``parameters`` go in ``generationConfig``,
    ``safety_filter`` in ``safetySettings``. Media files over ``apis.gemini.inline_limit``
    bytes go through the File API, uploaded once per file (see gemini_files).
    """

    api = "gemini"
    settings_class = GeminiApiConfig
    settings_help = GEMINI_HELP
    structured_output = "gemini"
    price_provider = "google"
    usage_provider = "google"
    batch_adapter = "runner.batch.gemini:GeminiBatches"
    key_env = "GEMINI_API_KEY"
    url_env = "GEMINI_BASE_URL"
    default_url = DEFAULT_BASE_URL
    error_classifier = classify_gemini

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self._files: dict[tuple[str, str | None], GeminiFiles] = {}

    def base_url(self, model_name: str | None) -> str:
        return self._url(model_name) or DEFAULT_BASE_URL

    def files(self, model_name: str | None) -> GeminiFiles:
        """The File API of the account a model is sent with (one per key and base URL)."""
        base_url, key = self.base_url(model_name), self.key(model_name)
        found = self._files.get((base_url, key))
        if found is None:
            found = GeminiFiles(
                self.context.http(), base_url, key, self.context.timeout, classify_gemini
            )
            self._files[(base_url, key)] = found
        return found

    def problems(self, record: PromptRecord) -> list[str]:
        found: list[str] = []
        cfg: GeminiApiConfig = self.settings()
        if not record.model_name:
            found.append("missing field 'model_name' (the Gemini model to call)")
        if not self.key(record.model_name) and self.base_url(record.model_name) == DEFAULT_BASE_URL:
            found.append(
                "no Gemini API key: set GEMINI_API_KEY (or "
                f"{model_variable('GEMINI_API_KEY', record.model_name)}), "
                "or point GEMINI_BASE_URL at a "
                "server that needs none"
            )
        limit = None if cfg.file_api else cfg.inline_limit
        return found + content_problems(self, record, limit, uploads=cfg.file_api)

    async def file_part(self, model: str, part: dict[str, Any]) -> dict[str, Any]:
        """A fileData part for a file in the File API: named, or uploaded now (once)."""
        files = self.files(model)
        name = part.get("uploaded_filename")
        media_name = str(part.get("media") or "")
        path = (
            media.media_path(media.media_folder(self.context.settings), media_name)
            if media_name
            else None
        )
        mime = (media.mime_type_of(media_name, part.get("mime_type")) or "") if path else ""
        if name:  # an earlier upload; gone (expired): the media file again, if it is here
            file = await files.named(str(name), path, mime)
        else:
            assert path is not None
            file = await files.ensure_uploaded(path, mime)
        mime_type = part.get("mime_type") or file.get("mimeType")
        return {"fileData": {"mimeType": mime_type, "fileUri": file["uri"]}}

    async def complete(self, record: PromptRecord) -> Completion:
        model = record.model_name or ""
        key = self.key(model)
        headers = {"x-goog-api-key": key} if key else {}
        url = f"{self.base_url(model)}/models/{model}:generateContent"
        params = parameters_without(record.parameters, "stream")
        media_dir = media.media_folder(self.context.settings)
        cfg: GeminiApiConfig = self.settings()

        used: list[str] = []  # File API URIs this prompt's parts resolved to

        async def resolve(part: dict[str, Any]) -> dict[str, Any]:
            found = await self.file_part(model, part)
            used.append(found["fileData"]["fileUri"])
            return found

        async def send(messages: list[Message]) -> Completion:
            payload = await gemini_payload(
                messages,
                params,
                media_dir,
                safety_filter=record.data.get("safety_filter"),
                inline_limit=cfg.inline_limit,
                resolve=resolve if cfg.file_api else None,
            )
            body = await self.post_json(url, payload, headers=headers)
            return parse_generate_content(body, model)

        try:
            return await run_chat(record.prompt, send)
        except ProviderError as exc:
            # A file that expired during the run: forgotten, so the engine's next attempt
            # looks it up (and uploads its media again); once per file.
            if exc.prompt_only and self.files(model).forget(used):
                raise dataclasses.replace(exc, kind=ErrorKind.RETRYABLE) from None
            raise
