"""Reading command-line overrides as Hydra will, before it composes."""

from __future__ import annotations

from collections.abc import Sequence

from runner.errors import ConfigError


def _as_name(value: object, raw: str) -> str:
    """A parsed override value as the name it stands for (``401`` stays ``"401"``)."""
    from hydra.core.override_parser.types import QuotedString

    if isinstance(value, QuotedString):
        return value.text
    return value if isinstance(value, str) else raw.strip()


def override_values(overrides: Sequence[str], key: str) -> list[str]:
    """Values given to ``key`` on the command line, as Hydra reads them (sweeps expanded).

    Hydra's own parser takes the quotes off (``experiment='exp ünï 日本'``) and reads
    ``experiment=401`` as a name, as it will when it composes.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep
    from hydra.errors import HydraException

    values: list[str] = []
    parser = OverridesParser.create()
    for item in overrides:
        name, sep, raw = item.lstrip("+~").partition("=")
        if not sep or name != key:
            continue
        try:
            (override,) = parser.parse_overrides([item])
        except HydraException:  # Hydra reports a malformed override itself, in its words
            values.extend(v.strip() for v in raw.split(",") if v.strip())
            continue
        value = override.value()
        if isinstance(value, ChoiceSweep):
            values.extend(_as_name(v, str(v)) for v in value.list)
        elif override.is_sweep_override():
            values.extend(str(v) for v in override.sweep_string_iterator())
        else:
            values.append(_as_name(value, raw))
    return values


def quoted_override(key: str, value: str) -> str:
    """``key='value'`` as Hydra's grammar reads back exactly ``value``, whatever it holds.

    A path built from a run's folder may hold ``'``, ``=``, a space or a newline: unquoted,
    Hydra's parser refuses it. Inside quotes a backslash escapes only a quote (or another
    backslash before one), so only those are doubled.
    """
    import re

    escaped = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value)
    return f"{key}='{escaped}'"


def spelled_for_hydra(args: Sequence[str]) -> list[str]:
    """The command line as Hydra reads it: the one rewrite of ``python -m runner``'s words.

    ``<step>.model=NAME`` becomes the group override of that step, and a plain value Hydra's
    grammar cannot read unquoted (a space, a ``ü``) is quoted.
    """
    from runner.config.models import as_choices
    from runner.config.setup import quote_plain_values

    return quote_plain_values(as_choices(args))


def refuse_literal_keys(argv: list[str]) -> None:
    """Refuse ``apis.X.api_key=VALUE`` on the command line before Hydra saves or prints it.

    Hydra writes the overrides to ``.hydra/*.yaml`` (and ``multirun.yaml``) and prints them
    in its "Launching" line before any job runs; a reference such as ``${oc.env:VAR}`` is
    fine, a key is not.

    Raises:
        ConfigError: an override gives a key literally.
    """
    for arg in argv:
        name, sep, value = arg.lstrip("+~").partition("=")
        if not sep or name.rsplit(".", 1)[-1] != "api_key":
            continue
        if value.strip() in ("", "null", "None", "~") or value.lstrip("'\"").startswith("${"):
            continue
        raise ConfigError(
            f"{name}= gives an API key on the command line, where it would be saved with the "
            f"run and printed; nothing was run. Set it in the environment instead, or "
            f"reference one: {name}='${{oc.env:MY_KEY_VAR}}'"
        )
