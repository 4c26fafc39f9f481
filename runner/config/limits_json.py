"""``max_queries_json=FILE``: the rate-limit file prompto's ``-mqj`` takes.

Its shape is ``max_queries_dict``'s: ``{"<api or group>": n | {"default": n, "<model>": n}}``,
so model keys with a tag (``gemma2:2b``), awkward on a command line, work. Values of
``max_queries_dict`` given as well win over the file's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.errors import ConfigError
from runner.wire_json import std_loads


def _check_value(path: Path, where: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(
            f"{path}: {where} is {value!r}; a limit must be a positive number of queries per minute"
        )


def read_limits_json(path: Path) -> dict[str, Any]:
    """The limits of a prompto ``-mqj`` file, checked.

    Raises:
        ConfigError: the file is missing, not JSON, not an object, or holds a bad limit.
    """
    try:
        data = std_loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"max_queries_json={path}: cannot read it ({exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); see prompto's -mqj format") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: must be a JSON object {{api-or-group: n or {{model: n}}}}, "
            f"got {type(data).__name__}"
        )
    for key, value in data.items():
        if isinstance(value, dict):
            if not value:
                raise ConfigError(f"{path}: {key!r} is an empty object; give it limits")
            for sub, sub_value in value.items():
                _check_value(path, f"{key!r}.{sub!r}", sub_value)
        else:
            _check_value(path, repr(key), value)
    return data


def merged_limits(path: Path, given: dict[str, Any]) -> dict[str, Any]:
    """The file's limits with ``given`` (max_queries_dict) on top, key by key."""
    merged = read_limits_json(path)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
