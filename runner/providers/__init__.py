"""Providers: one module per API behind :class:`runner.providers.base.Provider`.

Importing this package imports every module in it, so a provider module dropped here (with
its ``conf/api/<name>.yaml``) is registered with no list to edit (docs/providers.md).
"""

import importlib
import pkgutil

from runner.providers.base import Completion, Provider, ProviderContext
from runner.providers.provider_set import ProviderSet
from runner.providers.registry import known_apis, provider_class, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "Completion",
    "Provider",
    "ProviderContext",
    "ProviderSet",
    "known_apis",
    "provider_class",
    "register",
]
