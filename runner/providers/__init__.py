"""Providers: one module per API behind :class:`runner.providers.base.Provider`.

Importing this package registers every built-in provider.
"""

from runner.providers import (  # noqa: F401  (registration)
    anthropic,
    azure_openai,
    gemini,
    huggingface_tgi,
    local,
    ollama,
    openai,
    vertexai,
)
from runner.providers.base import (
    Completion,
    Provider,
    ProviderContext,
    known_apis,
    provider_class,
    register,
)
from runner.providers.provider_set import ProviderSet

__all__ = [
    "Completion",
    "Provider",
    "ProviderContext",
    "ProviderSet",
    "known_apis",
    "provider_class",
    "register",
]
