"""Azure OpenAI: chat completions of a deployment (``model_name`` names the deployment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from runner.prompts.records import PromptRecord
from runner.providers import media, reasoning
from runner.providers.base import (
    Completion,
    HttpProvider,
    ProviderContext,
    model_variable,
    register,
    setting_or_env,
)
from runner.providers.openai import send_chat_completions
from runner.providers.openai_responses import Routes, send_responses

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane version when written


@dataclass
class AzureOpenAIApiConfig:
    """Settings of the ``azure-openai`` provider; ``model_name`` is the deployment."""

    api_key: str | None = None  # $AZURE_OPENAI_API_KEY
    endpoint: str | None = None  # $AZURE_OPENAI_API_ENDPOINT, https://<resource>.openai.azure.com
    api_version: str | None = None  # $AZURE_OPENAI_API_VERSION, else 2024-10-21
    # chat (deployments/{model_name}/chat/completions) | responses (/openai/v1/responses);
    # named route here because ``endpoint`` is the resource URL.
    route: str = "chat"


# One line of ``--help`` per field of apis.azure_openai.
AZURE_OPENAI_HELP = {
    "api_key": "null: $AZURE_OPENAI_API_KEY",
    "endpoint": "null: $AZURE_OPENAI_API_ENDPOINT",
    "api_version": "null: $AZURE_OPENAI_API_VERSION, else 2024-10-21",
    "route": "chat (the deployment's chat/completions) or responses (/openai/v1)",
}


@register
class AzureOpenAIProvider(HttpProvider):
    """``api: azure-openai``: ``POST {endpoint}/openai/deployments/{model_name}/chat/completions``.

    Key, endpoint and API version from ``apis.azure_openai`` or ``AZURE_OPENAI_API_KEY``,
    ``AZURE_OPENAI_API_ENDPOINT``, ``AZURE_OPENAI_API_VERSION`` (``..._<model_name>`` wins).
    Images go as in OpenAI's format; the deployment must be a vision model.
    """

    api = "azure-openai"
    settings_class = AzureOpenAIApiConfig
    settings_help = AZURE_OPENAI_HELP
    structured_output = "openai_chat"
    price_provider = "azure"
    usage_provider = "azure"
    batch_adapter = "runner.batch.azure_openai:AzureOpenAIBatches"
    key_env = "AZURE_OPENAI_API_KEY"
    url_env = "AZURE_OPENAI_API_ENDPOINT"
    url_setting = "endpoint"

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        # chat or responses: the model yaml's ``endpoint``, else ``apis.azure_openai.route``.
        self.route = Routes(context.settings, self.api, "azure_openai", "route")

    def _setting(self, configured: str | None, variable: str, model_name: str | None) -> str | None:
        return setting_or_env(self.context.env, configured, variable, model_name)

    def api_version(self, model_name: str | None) -> str:
        """The data-plane API version ``model_name``'s requests name."""
        cfg: AzureOpenAIApiConfig = self.settings()
        version = self._setting(cfg.api_version, "AZURE_OPENAI_API_VERSION", model_name)
        return version or DEFAULT_API_VERSION

    def cache_identity(self, model_name: str | None) -> dict[str, Any]:
        identity = super().cache_identity(model_name)
        identity.pop("route", None)  # chat answers keep the keys they had before it existed
        if self.route(model_name) == "responses":
            identity["endpoint"] = "responses"
        return identity

    def problems(self, record: PromptRecord) -> list[str]:
        model = record.model_name
        # The deployment's name is all runner knows of its model: checked as a model name.
        found = reasoning.openai_problems(model, record.parameters, self.route(model))
        if not model:
            found.append("missing field 'model_name' (the Azure OpenAI deployment to call)")
        if not self.key(model):
            found.append(
                "no Azure OpenAI API key: set AZURE_OPENAI_API_KEY (or "
                f"{model_variable('AZURE_OPENAI_API_KEY', model)})"
            )
        if not self.base_url(model):
            found.append(
                "no Azure OpenAI endpoint: set AZURE_OPENAI_API_ENDPOINT (or "
                f"{model_variable('AZURE_OPENAI_API_ENDPOINT', model)}), "
                "e.g. https://<resource>.openai.azure.com"
            )
        found += media.media_problems(
            record.prompt, media.media_folder(self.context.settings), api=self.api
        )
        return found

    async def complete(self, record: PromptRecord) -> Completion:
        model = record.model_name or ""
        headers = {"api-key": self.key(model) or ""}
        if self.route(model) == "responses":
            # The v1 surface: no deployment in the URL, the deployment is the body's model.
            url = f"{self.base_url(model)}/openai/v1/responses"
            return await send_responses(self, record, url, headers, model, "azure")
        url = (
            f"{self.base_url(model)}/openai/deployments/{quote(model, safe='')}"
            f"/chat/completions?api-version={quote(self.api_version(model))}"
        )
        return await send_chat_completions(self, record, url, headers, None, "azure")
