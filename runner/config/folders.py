"""The folders a run writes in (``outputs_dir``, ``limits_dir``), checked before Hydra makes one.

Hydra makes the run's folder before any job runs: under a file that is a traceback, and a
limits folder that cannot be made stopped the run with "please report it" once prompts
were being sent. Each is said in one line instead (exit 2), before anything is made.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from runner.config.overrides import override_values
from runner.errors import ConfigError

# The settings that name a folder runner makes and writes in, with their defaults.
FOLDER_SETTINGS = {"outputs_dir": "outputs", "limits_dir": None}


def check_folder(key: str, value: str) -> None:
    """Refuse a folder setting that names a file, lies under one, or cannot be written.

    Raises:
        ConfigError: ``key=value`` cannot be a folder this process writes in.
    """
    path = Path(value).expanduser()
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == path else f"lies under {existing}, which is a file"
        raise ConfigError(f"{key}={value}: {where}, not a folder; name a folder (made if missing)")
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{key}={value}: cannot write in {existing} (permission denied); "
            "name a folder you can write in"
        )


def check_folder_settings(overrides: Sequence[str]) -> None:
    """Check every folder setting the overrides give (``outputs_dir`` also by default).

    Raises:
        ConfigError: one of them cannot be a folder this process writes in.
    """
    for key, default in FOLDER_SETTINGS.items():
        values = override_values(overrides, key) or ([default] if default else [])
        for value in values:
            if value not in ("null", "None", "~", ""):
                check_folder(key, value)
