"""The registry of providers: which class serves an api, and what each one declares.

Every module of ``runner/providers`` is imported by the package (see its ``__init__``); a
module whose class is decorated with :func:`register` adds an api. Registering declares the
rest where it is used: the settings block to the config (``apis.<block>``), the sending
traits to the grouping; pricing, usage and batch read the class through the look-ups below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.config.apis import declare_block
from runner.prompts.grouping import declare_api
from runner.prompts.output_styles import declare_output_style

if TYPE_CHECKING:
    from runner.providers.base import Provider

_REGISTRY: dict[str, type[Provider]] = {}


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make ``cls`` the provider of ``cls.api``, declaring its block."""
    if not cls.settings_block:
        cls.settings_block = cls.api.replace("-", "_")
    _REGISTRY[cls.api] = cls
    declare_api(cls.api, has_quota=cls.has_quota, sends_model_by_model=cls.sends_model_by_model)
    if cls.structured_output is not None:
        declare_output_style(cls.api, cls.structured_output)
    if cls.settings_class is not None:
        declare_block(cls.settings_block, cls.settings_class, cls.settings_help)
    return cls


def provider_class(api: str) -> type[Provider]:
    """The provider registered for ``api``."""
    return _REGISTRY[api]


def known_apis() -> frozenset[str]:
    """The api names records may use."""
    return frozenset(_REGISTRY)


def price_provider(api: str) -> str | None:
    """genai-prices' provider id that prices ``api``'s models (None: none, or not an api)."""
    cls = _REGISTRY.get(api)
    return None if cls is None else cls.price_provider


def is_free(api: str) -> bool:
    """Whether ``api`` runs on the user's own machine: its answers cost 0."""
    cls = _REGISTRY.get(api)
    return cls is not None and cls.free


def usage_provider(api: str) -> str | None:
    """genai-prices' provider whose extractor reads ``api``'s usage blocks (None: its own)."""
    cls = _REGISTRY.get(api)
    return None if cls is None else cls.usage_provider


def batch_adapters() -> dict[str, str]:
    """api -> its batch adapter, ``"module:Class"`` (imported only by batch mode)."""
    return {api: cls.batch_adapter for api, cls in _REGISTRY.items() if cls.batch_adapter}
