"""Where runner keeps what it makes for itself between runs, on this machine."""

from __future__ import annotations

import os
from pathlib import Path

# Where runs go unless outputs_dir says otherwise; the commands that read them look there too.
DEFAULT_OUTPUTS_DIR = Path("outputs")


def runner_cache_home() -> Path:
    """``$XDG_CACHE_HOME/runner`` (``~/.cache/runner``): models, limits, price lookups, logs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runner"
