"""Command-line choices of the config groups (``evaluation=``, ``rephrase=``), checked first.

Hydra refuses an option its group does not have in a dozen lines that list its search path;
this says it in one, with the options there are and the closest one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from pathlib import Path

from runner.errors import ConfigError

# The groups whose options are files conf/<group>/NAME.yaml (experiment and model have
# their own checks: an experiment may be a data file, a model is checked under its step).
GROUPS = ("evaluation", "rephrase")
_NONE = ("null", "None", "")


def group_options(group: str, dirs: Sequence[Path]) -> list[str]:
    """The options the config folders offer for ``group`` (``conf/<group>/*.yaml``)."""
    return sorted({p.stem for d in dirs for p in (d / group).glob("*.yaml")})


def _names(value: object) -> Iterator[str]:
    """The option names a parsed override value chooses (a list or a sweep: each of them)."""
    from hydra.core.override_parser.types import ChoiceSweep, QuotedString

    if isinstance(value, ChoiceSweep):
        for item in value.list:
            yield from _names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _names(item)
    elif isinstance(value, QuotedString):
        yield value.text
    elif isinstance(value, str | int | float):
        yield str(value)


def _chosen(overrides: Sequence[str], group: str) -> Iterator[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for item in overrides:
        key, sep, _value = item.lstrip("+~").partition("=")
        if not sep or key.strip() != group:
            continue
        try:
            (override,) = parser.parse_overrides([item])
        except HydraException:
            continue  # a malformed override is reported by its own check
        if not override.is_sweep_override() or override.is_discrete_sweep():
            yield from _names(override.value())


def check_group_choices(overrides: Sequence[str], dirs: Sequence[Path]) -> None:
    """Refuse an option of ``evaluation=`` or ``rephrase=`` that no config folder has.

    Raises:
        ConfigError: one line naming the option, the closest one and every option.
    """
    for group in GROUPS:
        options = group_options(group, dirs)
        for name in _chosen(overrides, group):
            if name in options or name in _NONE:
                continue
            close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else "."
            raise ConfigError(
                f"{group}={name}: no such {group}{hint} Choices: {', '.join(options)} "
                f"(the *.yaml files in {', '.join(str(d / group) for d in dirs)})"
            )
