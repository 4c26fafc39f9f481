"""Google Cloud Vertex AI's Gemini models (``generateContent``), as prompto's ``vertexai``.

The project and location come from ``apis.vertexai`` or prompto's ``VERTEXAI_PROJECT_ID`` /
``VERTEXAI_LOCATION_ID`` (``..._<model_name>`` wins for that model). The bearer token is
``VERTEXAI_ACCESS_TOKEN`` when set, else Google's application default credentials through
``google-auth`` (``pip install 'runner[vertexai]'``; ``gcloud auth application-default
login`` or ``GOOGLE_APPLICATION_CREDENTIALS``). ``VERTEXAI_BASE_URL`` replaces the regional
``https://<location>-aiplatform.googleapis.com/v1`` (a proxy, or a test server).
"""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import dataclass
from typing import Any

from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.base import (
    Completion,
    HttpClient,
    ProviderContext,
    parameters_without,
    register,
    setting_or_env,
)
from runner.providers.gemini import classify_gemini, content_problems, parse_generate_content
from runner.providers.gemini_content import gemini_payload
from runner.providers.messages import Message, run_chat

DEFAULT_LOCATION = "us-central1"  # what vertexai.init uses when prompto passes no location
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def default_base_url(location: str) -> str:
    """The regional endpoint of a location (``global`` has no region prefix)."""
    if location == "global":
        return "https://aiplatform.googleapis.com/v1"
    return f"https://{location}-aiplatform.googleapis.com/v1"


class AdcToken:
    """Bearer tokens from application default credentials, refreshed when they expire."""

    def __init__(self) -> None:
        self._credentials: Any = None
        self.project: str | None = None
        self._lock = asyncio.Lock()

    def _refresh(self) -> str:
        import google.auth
        import google.auth.transport.requests

        if self._credentials is None:
            self._credentials, self.project = google.auth.default(scopes=list(SCOPES))
        if not self._credentials.valid:
            self._credentials.refresh(google.auth.transport.requests.Request())
        return str(self._credentials.token)

    async def token(self) -> str:
        async with self._lock:
            try:
                return await asyncio.to_thread(self._refresh)
            except Exception as exc:  # google-auth raises several unrelated types
                raise ProviderError(
                    f"Google application default credentials failed ({type(exc).__name__}: "
                    f"{exc}); run `gcloud auth application-default login` or set "
                    "VERTEXAI_ACCESS_TOKEN",
                    ErrorKind.FATAL,
                ) from None


def has_google_auth() -> bool:
    return importlib.util.find_spec("google.auth") is not None


@dataclass
class VertexAIApiConfig:
    """Settings of the ``vertexai`` provider (Gemini on Vertex AI); None: the environment."""

    project_id: str | None = None  # $VERTEXAI_PROJECT_ID
    location_id: str | None = None  # $VERTEXAI_LOCATION_ID, else us-central1
    # $VERTEXAI_BASE_URL, else https://<location>-aiplatform.googleapis.com/v1
    base_url: str | None = None
    # Media files larger than this (bytes) must be given as gs:// URIs.
    inline_limit: int = 20_000_000


# One line of ``--help`` per field of apis.vertexai.
VERTEXAI_HELP = {
    "project_id": "null: $VERTEXAI_PROJECT_ID (or _<model>)",
    "location_id": "null: $VERTEXAI_LOCATION_ID (or _<model>)",
    "base_url": "null: $VERTEXAI_BASE_URL, else the region's aiplatform endpoint",
    "inline_limit": "bytes of media sent inline; larger ones must be gs:// URIs",
}


@register
class VertexAIProvider(HttpClient):
    """``api: vertexai``: Gemini on Vertex AI; prompts, parts and parameters as ``gemini``.

    Media go inline (base64) up to ``apis.vertexai.inline_limit`` bytes; larger ones must be
    in Cloud Storage, named by ``gs://`` URI (Vertex AI has no File API).
    """

    api = "vertexai"
    settings_class = VertexAIApiConfig
    settings_help = VERTEXAI_HELP
    structured_output = "gemini"
    price_provider = "google"
    usage_provider = "google"
    error_classifier = classify_gemini

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self._adc = AdcToken()

    def _setting(self, configured: str | None, variable: str, model: str | None) -> str | None:
        return setting_or_env(self.context.env, configured, variable, model)

    def _project(self, model: str | None) -> str | None:
        cfg: VertexAIApiConfig = self.settings()
        return self._setting(cfg.project_id, "VERTEXAI_PROJECT_ID", model)

    def _location(self, model: str | None) -> str:
        cfg: VertexAIApiConfig = self.settings()
        return self._setting(cfg.location_id, "VERTEXAI_LOCATION_ID", model) or DEFAULT_LOCATION

    def _base_url(self, model: str | None) -> str:
        cfg: VertexAIApiConfig = self.settings()
        url = self._setting(cfg.base_url, "VERTEXAI_BASE_URL", model)
        return (url or default_base_url(self._location(model))).rstrip("/")

    def _token_env(self, model: str | None) -> str | None:
        return self._setting(None, "VERTEXAI_ACCESS_TOKEN", model)

    def problems(self, record: PromptRecord) -> list[str]:
        found: list[str] = []
        model = record.model_name
        if not model:
            found.append("missing field 'model_name' (the Vertex AI Gemini model to call)")
        if not self._project(model):
            found.append(
                "no Vertex AI project: set VERTEXAI_PROJECT_ID (or VERTEXAI_PROJECT_ID_"
                f"{model or '<model_name>'}) or apis.vertexai.project_id"
            )
        if not self._token_env(model) and not has_google_auth():
            found.append(
                "no Vertex AI credentials: install the extra (pip install 'runner[vertexai]') "
                "for application default credentials, or set VERTEXAI_ACCESS_TOKEN"
            )
        limit = self.settings().inline_limit
        return found + content_problems(self, record, limit)

    async def _headers(self, model: str) -> dict[str, str]:
        token = self._token_env(model) or await self._adc.token()
        return {"Authorization": f"Bearer {token}"}

    async def complete(self, record: PromptRecord) -> Completion:
        model = record.model_name or ""
        path = (
            f"projects/{self._project(model)}/locations/{self._location(model)}"
            f"/publishers/google/models/{model}:generateContent"
        )
        url = f"{self._base_url(model)}/{path}"
        params = parameters_without(record.parameters, "stream")
        media_dir = media.media_folder(self.context.settings)
        cfg: VertexAIApiConfig = self.settings()

        async def send(messages: list[Message]) -> Completion:
            payload = await gemini_payload(
                messages,
                params,
                media_dir,
                safety_filter=record.data.get("safety_filter"),
                inline_limit=cfg.inline_limit,
            )
            body = await self.post_json(url, payload, headers=await self._headers(model))
            return parse_generate_content(body, model)

        return await run_chat(record.prompt, send)
