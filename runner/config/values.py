"""Command-line values checked before Hydra composes: its grammar, and each setting's type.

Hydra refuses ``max_queries=abc`` or ``x=a=b`` in several lines of its own (and a pointer to
``HYDRA_FULL_ERROR``); these say it in one, naming the setting and what it takes.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from typing import Any

from runner.config.keys import is_map, override_key, typed_fields, unwrap_optional
from runner.config.schema import RunConfig
from runner.errors import ConfigError

_KINDS = {int: "a whole number", float: "a number", bool: "true or false"}


def setting_type(key: str) -> Any:
    """The schema's type of the setting ``key`` names (None when it is free-form or unknown)."""
    tp: Any = RunConfig
    parts = key.split(".")
    i = 0
    while i < len(parts):
        if not dataclasses.is_dataclass(tp):
            return None
        fields = typed_fields(typing.cast(type, tp))
        if parts[i] not in fields:
            return None
        tp = fields[parts[i]]
        i += 1
        if is_map(tp) and i < len(parts):
            tp = unwrap_optional(typing.get_args(tp)[1])
            i += 1
    return tp


def _convertible(kind: type, value: object) -> bool:
    from omegaconf import ValidationError
    from omegaconf.nodes import BooleanNode, FloatNode, IntegerNode

    nodes: dict[type, type[IntegerNode | FloatNode | BooleanNode]] = {
        int: IntegerNode,
        float: FloatNode,
        bool: BooleanNode,
    }
    try:
        nodes[kind](value=value)
    except ValidationError:
        return False
    return True


def _values(value: object) -> list[object]:
    from hydra.core.override_parser.types import ChoiceSweep, QuotedString

    if isinstance(value, ChoiceSweep):
        return [v for item in value.list for v in _values(item)]
    if isinstance(value, QuotedString):
        return [value.text]
    if isinstance(value, str) and value.startswith("${"):
        return []  # an interpolation: its value is known once composed
    return [value]


def check_override_values(overrides: Sequence[str]) -> None:
    """Refuse an override Hydra cannot parse, or a value its setting's type cannot take.

    Raises:
        ConfigError: one line naming the override and what it takes.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for item in overrides:
        try:
            (override,) = parser.parse_overrides([item])
        except HydraException as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
            raise ConfigError(
                f"{item!r}: not an override Hydra can read ({reason}); write key=value, and "
                "quote a value holding = , ' or spaces: key='...'"
            ) from None
        key = override_key(item)
        value = override.value()
        if key is None or item.startswith("~"):
            continue
        if override.is_sweep_override() and not isinstance(value, ChoiceSweep):
            continue  # a range or a glob: Hydra expands it
        kind = setting_type(key)
        if kind not in _KINDS:
            continue
        for one in _values(value):
            if one is not None and not _convertible(kind, one):
                raise ConfigError(f"{key}={one}: {key} takes {_KINDS[kind]} (in {item})")
