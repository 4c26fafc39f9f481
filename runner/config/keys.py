"""Command-line keys checked against the schema before Hydra composes.

Hydra lets ``+key=value`` add a key the schema does not have (and suggests it for every
misspelled key). runner has no free-form settings outside the limit maps, so every key of
an override must be a path of :class:`runner.config.schema.RunConfig`, whatever its prefix.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner.commands import python_command
from runner.config.apis import ApisConfig, apis_class
from runner.config.schema import RunConfig
from runner.errors import ConfigError

# Placeholder for a free key (a step name under ``evaluation``) in the listed paths.
FREE = "<name>"


def unwrap_optional(tp: Any) -> Any:
    """``X | None`` as ``X``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else Any
    return tp


def typed_fields(cls: type) -> dict[str, Any]:
    """A dataclass's fields with their types (``X | None`` as ``X``)."""
    if cls is ApisConfig:  # the blocks the providers declare
        cls = apis_class()
    hints = typing.get_type_hints(cls)
    return {f.name: unwrap_optional(hints[f.name]) for f in dataclasses.fields(cls)}


def is_map(tp: Any) -> bool:
    """Whether ``tp`` is a ``dict[...]``."""
    return typing.get_origin(tp) is dict


def setting_paths(cls: type = RunConfig, prefix: str = "") -> Iterator[str]:
    """Every settable path of the schema, sections included (``apis``, ``apis.local``)."""
    for name, tp in typed_fields(cls).items():
        path = f"{prefix}{name}"
        yield path
        if dataclasses.is_dataclass(tp):
            yield from setting_paths(typing.cast(type, tp), f"{path}.")
        elif is_map(tp):
            value = unwrap_optional(typing.get_args(tp)[1])
            if dataclasses.is_dataclass(value):
                yield from setting_paths(typing.cast(type, value), f"{path}.{FREE}.")


def _known(parts: Sequence[str]) -> bool:
    """Whether a dotted key names a setting (or something inside a free-form map)."""
    tp: Any = RunConfig
    i = 0
    while i < len(parts):
        if not dataclasses.is_dataclass(tp):
            return False  # a value has no keys below it
        fields = typed_fields(typing.cast(type, tp))
        if parts[i] not in fields:
            return False
        tp = fields[parts[i]]
        i += 1
        if is_map(tp) and i < len(parts):
            tp = unwrap_optional(typing.get_args(tp)[1])
            if not dataclasses.is_dataclass(tp):
                return True  # a free-form map: limits take any group name
            i += 1  # the step's own name
    return True


def override_key(override: str) -> str | None:
    """The key an override sets, adds or deletes; None for Hydra's own (``hydra.*``, groups)."""
    key = override.lstrip("+~").partition("=")[0].strip()
    if not key or key == "hydra" or key.startswith("hydra.") or "/" in key or "@" in key:
        return None
    return key


def step_names(conf_dirs: Sequence[Path]) -> list[str]:
    """The step names ``conf/evaluation/*.yaml`` define (the keys ``evaluation.<step>`` takes)."""
    names: set[str] = set()
    for path in (p for d in conf_dirs for p in (d / "evaluation").glob("*.yaml")):
        data = OmegaConf.load(path)
        if isinstance(data, DictConfig):
            names.update(str(k) for k in data if k != "defaults")
    return sorted(names)


def check_override_keys(overrides: Sequence[str], conf_dirs: Sequence[Path] | None = None) -> None:
    """Refuse an override whose key is not a runner setting, naming the closest one.

    Args:
        overrides: the command-line overrides.
        conf_dirs: the config folders; with them, ``evaluation.<step>.*`` must name a step that
            some ``conf/evaluation/*.yaml`` defines (Hydra cannot add a step from the
            command line, with or without ``+``).

    Raises:
        ConfigError: an unknown key, with or without Hydra's ``+`` / ``++`` / ``~``.
    """
    paths = list(setting_paths())
    for override in overrides:
        key = override_key(override)
        if key is None:
            continue
        if not _known(key.split(".")):
            close = difflib.get_close_matches(key, paths, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else "."
            raise ConfigError(
                f"the configuration is invalid: {key} is not a runner setting (in {override})"
                f"{hint} {python_command()} -m runner --help lists every setting."
            )
        parts = key.split(".")
        if conf_dirs is not None and parts[0] == "evaluation" and len(parts) > 2:
            steps = step_names(conf_dirs)
            if parts[1] not in steps:
                raise ConfigError(
                    f"the configuration is invalid: {override} sets a field of evaluation step "
                    f"{parts[1]!r}, which no conf/evaluation/*.yaml defines (steps: "
                    f"{', '.join(steps)}); choose the file with evaluation=NAME, or add a step "
                    "in a YAML file under conf/evaluation/."
                )
