"""Azure OpenAI's Batch API: OpenAI's files + batches shape under the resource's endpoint.

``POST {endpoint}/openai/files?api-version=...`` (``purpose=batch``), ``/openai/batches``,
``/openai/files/{id}/content``; the key goes in ``api-key``. Each request line names the
deployment (``model_name``, a Global Batch or Data Zone Batch deployment) as its ``model``
and the ``/chat/completions`` url. Azure documents the same limits as OpenAI's per file.
"""

from __future__ import annotations

from urllib.parse import quote

from runner.batch.adapter import BatchLimits
from runner.batch.openai import OpenAIShapedBatches
from runner.batch.registry import register_batch
from runner.providers.azure_openai import AzureOpenAIProvider


@register_batch
class AzureOpenAIBatches(OpenAIShapedBatches):
    """``api: azure-openai`` in batch mode."""

    api = "azure-openai"
    limits = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)
    endpoint = "/chat/completions"

    def _azure(self) -> AzureOpenAIProvider:
        assert isinstance(self.provider, AzureOpenAIProvider)
        return self.provider

    def url(self, model_name: str, path: str) -> str:
        azure = self._azure()
        version = quote(azure.api_version(model_name))
        glue = "&" if "?" in path else "?"
        return f"{azure.base_url(model_name)}/openai{path}{glue}api-version={version}"

    def headers(self, model_name: str) -> dict[str, str]:
        return {"api-key": self.provider.key(model_name) or ""}
