"""Providers: one module per API behind :class:`runner.providers.base.Provider`.

Importing this package registers every built-in provider.
"""

from runner.providers import local, openai  # noqa: F401  (registration)
from runner.providers.base import (
    Completion,
    Provider,
    ProviderContext,
    known_apis,
    provider_class,
    register,
)

__all__ = [
    "Completion",
    "Provider",
    "ProviderContext",
    "known_apis",
    "provider_class",
    "register",
]
