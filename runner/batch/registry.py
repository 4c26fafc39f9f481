"""Which apis have a batch adapter, and what stops a record from going in a batch.

Each provider names its adapter (``batch_adapter = "module:Class"``); the adapters' modules
are imported the first time an adapter is asked for, and register themselves with
:func:`register_batch`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from runner.providers.messages import is_turn_list
from runner.providers.registry import batch_adapters

if TYPE_CHECKING:
    from runner.batch.adapter import BatchAdapter
    from runner.config.schema import RunConfig
    from runner.prompts.records import PromptRecord
    from runner.providers.base import Provider

_REGISTRY: dict[str, type[BatchAdapter]] = {}
MODES = ("online", "batch")


def register_batch(cls: type[BatchAdapter]) -> type[BatchAdapter]:
    """Class decorator: make ``cls`` the batch adapter of ``cls.api``."""
    _REGISTRY[cls.api] = cls
    return cls


def _load() -> None:
    for api, path in batch_adapters().items():
        if api not in _REGISTRY:  # once per api: then a lookup
            module, _, name = path.partition(":")
            _REGISTRY[api] = getattr(importlib.import_module(module), name)


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
