"""The ``apis`` section: one settings block per provider, declared by the provider itself.

A provider module (``runner/providers/<name>.py``) declares its block (a dataclass), the
one-line help of each field, and so on; registering the provider calls
:func:`declare_block`. The schema (:class:`ApisConfig`), the defaults list that reads
``conf/api/<name>.yaml`` into ``apis.<name>``, the help page and the key check are built
from what was declared, so adding a provider edits no list here.

Providers sit above config in the package graph, so config never imports them, not even
by name: the entry points (the top of the graph) import ``runner.providers`` before they
configure anything, as they do before grouping (``prompts.grouping.declare_api``). Until a
block is declared, asking for the blocks is a programming error that says so. A pickled
``Apis`` class carries its blocks' classes, so unpickling it (a sweep's worker, the
remembered config) imports the modules that declare them.
"""

from __future__ import annotations

import copyreg
import dataclasses
import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class _ApisType(type):
    """The metaclass of the ``apis`` schema: pickled by its blocks (see :func:`_reduce`)."""


@dataclass
class ApisConfig(metaclass=_ApisType):
    """Per-API settings, one field per provider (built by :func:`apis_class`)."""

    def __getattr__(self, name: str) -> Any:
        # Only reached for a block no provider declared: say so (the fields are the blocks).
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"no provider declares the settings block apis.{name}")


@dataclass(frozen=True)
class ApiBlock:
    """One provider's settings block: ``apis.<name>``, its dataclass, a line per field."""

    name: str
    settings: type
    descriptions: Mapping[str, str] = field(default_factory=dict)


_BLOCKS: dict[str, ApiBlock] = {}
# Each ``Apis`` class made, with the blocks it was made of (what pickle rebuilds it from).
_MADE_OF: dict[type, tuple[tuple[str, type], ...]] = {}


def declare_block(name: str, settings: type, descriptions: Mapping[str, str]) -> None:
    """Make ``settings`` (a dataclass) the block ``apis.<name>``; its help lines beside it."""
    if not dataclasses.is_dataclass(settings):
        raise TypeError(f"apis.{name}: the settings block must be a dataclass, not {settings!r}")
    _BLOCKS[name] = ApiBlock(name, settings, dict(descriptions))


def api_blocks() -> dict[str, ApiBlock]:
    """Every declared block by name, in the order of their names (the help's order).

    Raises:
        RuntimeError: no provider declared one (``runner.providers`` was not imported).
    """
    if not _BLOCKS:
        raise RuntimeError(
            "no provider declared a settings block: import runner.providers before "
            "configuring (the entry points do)"
        )
    return dict(sorted(_BLOCKS.items()))


def apis_class() -> type[ApisConfig]:
    """The ``apis`` schema: an :class:`ApisConfig` with one field per declared block."""
    blocks = api_blocks()
    return _apis_class(tuple((name, block.settings) for name, block in blocks.items()))


@functools.cache
def _apis_class(blocks: tuple[tuple[str, type], ...]) -> type[ApisConfig]:
    fields = [(name, cls, field(default_factory=cls)) for name, cls in blocks]
    made = dataclasses.make_dataclass("Apis", fields, bases=(ApisConfig,))
    made.__module__ = __name__  # found by name through this module's ``__getattr__``
    _MADE_OF[made] = blocks
    return typing.cast(type[ApisConfig], made)


def _reduce(cls: type) -> str | tuple[Any, ...]:
    # Pickle names the blocks' classes (each in its provider's module), not ``Apis``: a
    # process that unpickles a config imports the providers that way, config never does.
    if cls is ApisConfig:
        return "ApisConfig"
    return _apis_class, (_MADE_OF[cls],)


copyreg.pickle(_ApisType, _reduce)


def new_apis() -> ApisConfig:
    """An ``apis`` section holding every block's defaults (``RunConfig``'s default)."""
    return apis_class()()


def defaults_node() -> dict[str, Any]:
    """The config node whose defaults list reads ``conf/api/<name>.yaml`` into each block.

    ``optional``: a provider without a YAML file keeps its dataclass's defaults.
    """
    return {"defaults": [{f"optional api@apis.{name}": name} for name in api_blocks()]}


def __getattr__(name: str) -> Any:
    # ``Apis`` is made from the declared blocks; cloudpickle checks it is found by name here.
    if name == "Apis":
        return apis_class()
    raise AttributeError(name)
