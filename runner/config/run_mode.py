"""Spares Hydra composing the whole config twice for a plain run.

Before every run Hydra composes the config once only to read ``hydra.mode`` (RUN or
MULTIRUN), then composes it again to run: a quarter of a second of startup, the largest part
of it. Left unset, the mode follows the command line (``-m`` or not), which is what Hydra
does with the mode it read. So when nothing on the command line can set ``hydra.mode`` (no
``hydra.*`` override, no other config folder, no config file of a group that writes global
keys such as an experiment's YAML), the first composition is skipped; otherwise Hydra reads
the mode as it always does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runner.config.search_path import UserConfigs
from runner.config.setup import CONF_DIR

# Flags Hydra reads that leave the config as it is; any other flag takes the long way.
_PLAIN_FLAGS = {"-m", "--multirun"}


def mode_may_be_set(argv: Sequence[str], conf_dir: Path = CONF_DIR) -> bool:
    """Whether the config composed from ``argv`` might set ``hydra.mode``."""
    for arg in argv:
        if arg.startswith("-"):
            if arg not in _PLAIN_FLAGS:
                return True
            continue
        key, sep, value = arg.lstrip("+~").partition("=")
        if not sep:
            continue
        if key.startswith("hydra"):
            return True
        # The user's conf/ folders are searched too (runner.config.search_path).
        groups = [d / key for d in (*UserConfigs.dirs, conf_dir) if (d / key).is_dir()]
        values = value.strip("[]").split(",")
        if any(_writes_globals(group, v) for group in groups for v in values):
            return True
    return _writes_globals_dir(conf_dir)


def _writes_globals(group: Path, value: str) -> bool:
    """Whether ``group/value.yaml`` may write keys outside its group (``hydra.mode`` too)."""
    path = group / f"{value.strip().strip(chr(39) + chr(34))}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return False  # not a YAML of the group: an experiment file, or Hydra reports it
    return "_global_" in text or "hydra" in text


@functools.cache
def _writes_globals_dir(conf_dir: Path) -> bool:
    """Whether the primary config itself sets the mode."""
    try:
        text = (conf_dir / "config.yaml").read_text(encoding="utf-8")
    except OSError:
        return True
    return "mode:" in text


def skip_mode_composition(argv: Sequence[str], conf_dir: Path = CONF_DIR) -> None:
    """Make Hydra skip the composition that only reads ``hydra.mode`` when it cannot be set."""
    if mode_may_be_set(argv, conf_dir):
        return
    from hydra._internal.hydra import Hydra

    original: Callable[..., Any] = Hydra.get_mode

    def get_mode(self: Hydra, config_name: str | None, overrides: list[str]) -> Any:
        del self, config_name, overrides  # the mode follows the command line (-m or not)
        return None

    get_mode.original = original  # type: ignore[attr-defined]
    Hydra.get_mode = get_mode  # type: ignore[method-assign]
