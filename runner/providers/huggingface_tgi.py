"""Hugging Face Text Generation Inference, through its OpenAI-compatible route."""

from __future__ import annotations

from dataclasses import dataclass

from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.base import (
    Completion,
    HttpProvider,
    model_variable,
    register,
)
from runner.providers.openai import send_chat_completions

# TGI serves one model and ignores the name, but its OpenAI route requires the field.
DEFAULT_MODEL = "tgi"


@dataclass
class HuggingfaceTgiApiConfig:
    """Settings of the ``huggingface-tgi`` provider (TGI's OpenAI-compatible route)."""

    api_key: str | None = None  # $HUGGINGFACE_TGI_API_KEY (optional)
    endpoint: str | None = None  # $HUGGINGFACE_TGI_API_ENDPOINT, e.g. http://localhost:8080


# One line of ``--help`` per field of apis.huggingface_tgi.
HUGGINGFACE_TGI_HELP = {
    "api_key": "null: $HUGGINGFACE_TGI_API_KEY (optional)",
    "endpoint": "null: $HUGGINGFACE_TGI_API_ENDPOINT",
}


@register
class HuggingfaceTgiProvider(HttpProvider):
    """``api: huggingface-tgi``: ``POST {endpoint}/v1/chat/completions``.

    Endpoint and optional key from ``apis.huggingface_tgi`` or ``HUGGINGFACE_TGI_API_ENDPOINT``
    / ``HUGGINGFACE_TGI_API_KEY`` (``..._<model_name>`` wins for that model). ``model_name``
    is optional. Images go as in OpenAI's format, for a vision model.
    """

    api = "huggingface-tgi"
    settings_class = HuggingfaceTgiApiConfig
    settings_help = HUGGINGFACE_TGI_HELP
    structured_output = "tgi"
    usage_provider = "openai"
    key_env = "HUGGINGFACE_TGI_API_KEY"
    url_env = "HUGGINGFACE_TGI_API_ENDPOINT"
    url_setting = "endpoint"

    def base_url(self, model_name: str | None) -> str | None:
        url = self._url(model_name)
        # Accept the endpoint with or without the /v1 suffix the OpenAI SDKs use.
        return url.removesuffix("/v1") if url else None

    def problems(self, record: PromptRecord) -> list[str]:
        found: list[str] = []
        if not self.base_url(record.model_name):
            found.append(
                "no TGI endpoint: set HUGGINGFACE_TGI_API_ENDPOINT (or "
                f"{model_variable('HUGGINGFACE_TGI_API_ENDPOINT', record.model_name)}), "
                "e.g. http://localhost:8080"
            )
        found += self.url_login_problems(record.model_name) + media.media_problems(
            record.prompt, media.media_folder(self.context.settings), api=self.api
        )
        return found

    async def complete(self, record: PromptRecord) -> Completion:
        model = record.model_name
        key = self.key(model)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = f"{self.base_url(model)}/v1/chat/completions"
        return await send_chat_completions(self, record, url, headers, model or DEFAULT_MODEL)
