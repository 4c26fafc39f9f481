"""The cache's settings: ``cache`` (the mode), ``cache_ttl`` and ``cache_dir``, checked once."""

from __future__ import annotations

import os
import re
from pathlib import Path

from runner.errors import ConfigError
from runner.paths import runner_cache_home

MODES = ("on", "off", "refresh", "only")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
FOREVER = ("", "0", "none", "null", "forever", "never")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(
            f"cache must be on, off, refresh or only, got {mode!r} "
            "(on: answer from the cache, send what it lacks; off: neither read nor write it; "
            "refresh: send everything and overwrite; only: send nothing)"
        )
    return mode


def ttl_seconds(value: object) -> float | None:
    """``cache_ttl`` in seconds; None: entries never expire (``0``, ``none``).

    Raises:
        ConfigError: not a number of seconds nor a duration such as ``12h`` or ``7d``.
    """
    text = str(value).strip().lower() if value is not None else ""
    if text in FOREVER:
        return None
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(
            f"cache_ttl must be seconds or a duration such as 90s, 30m, 12h, 7d, 2w "
            f"(0 or none: forever), got {value!r}"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return seconds or None


def cache_folder(cache_dir: str | None) -> Path:
    """``cache_dir``, else ``$RUNNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/runner``
    (``~/.cache/runner``)."""
    chosen = cache_dir or os.environ.get("RUNNER_CACHE_DIR")
    if chosen:
        return Path(chosen).expanduser()
    return runner_cache_home()
