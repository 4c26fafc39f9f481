"""Which apis have a batch adapter, and what stops a record from going in a batch.

Adapters register themselves with :func:`register_batch`; the modules listed in
``ADAPTER_MODULES`` are imported the first time an adapter is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from runner.providers.messages import is_turn_list

if TYPE_CHECKING:
    from runner.batch.adapter import BatchAdapter
    from runner.config.schema import RunConfig
    from runner.prompts.records import PromptRecord
    from runner.providers.base import Provider

ADAPTER_MODULES = (
    "runner.batch.openai",
    "runner.batch.azure_openai",
    "runner.batch.anthropic",
    "runner.batch.gemini",
)
_REGISTRY: dict[str, type[BatchAdapter]] = {}
MODES = ("online", "batch")


def register_batch(cls: type[BatchAdapter]) -> type[BatchAdapter]:
    """Class decorator: make ``cls`` the batch adapter of ``cls.api``."""
    _REGISTRY[cls.api] = cls
    return cls


def _load() -> None:
    for module in ADAPTER_MODULES:
        importlib.import_module(module)  # once: then a lookup in sys.modules


def batch_apis() -> frozenset[str]:
    """The apis batch mode can send to."""
    _load()
    return frozenset(_REGISTRY)


def batch_adapter(provider: Provider) -> BatchAdapter:
    """The batch adapter of ``provider``'s api, over that provider's keys and URLs."""
    _load()
    from runner.providers.base import HttpProvider

    if provider.api not in _REGISTRY or not isinstance(provider, HttpProvider):
        raise KeyError(provider.api)
    return _REGISTRY[provider.api](provider)


def is_multi_turn(record: PromptRecord) -> bool:
    """A conversation of several user turns: each needs the answer before it, so online."""
    prompt = record.prompt
    return is_turn_list(prompt) and len(prompt) > 1


def batch_problem(record: PromptRecord) -> str | None:
    """Why ``record`` cannot be sent in batch mode (its api has no batch endpoint)."""
    if record.api in batch_apis():
        return None
    return (
        f"mode=batch: api {record.api!r} has no batch endpoint (batch mode sends to "
        f"{', '.join(sorted(batch_apis()))}); use mode=online, or a model of those apis"
    )


def batch_mode(settings: RunConfig) -> bool:
    """Whether the run sends in batches: the chosen model's ``mode``, else the run's."""
    model = settings.model
    mode = model.mode if model is not None and model.mode else settings.mode
    return mode == "batch"
