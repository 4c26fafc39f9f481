"""Run folders by name, before one is opened: the names a run may take, the folders this
process made, and "the latest run".

Every command that takes ``latest`` (``resume=latest``, ``runner.evaluate run=latest``,
``runner.report run=latest``) asks here, so they all mean the same run: the one started
last (``started_at`` in its ``run.json``; a run id breaks ties), of one experiment or of
all of them.
"""

from __future__ import annotations

import glob
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from runner.errors import ConfigError

RUN_META = "run.json"
LATEST = "latest"

# A folder's name holds 255 bytes on common file systems; a shard's run adds ".shard<K>of<N>".
MAX_NAME_BYTES = 200

# Folders that did not exist when this process worked out its run folder: the only ones
# clean-up may ever remove.
made_here: set[Path] = set()


def check_name(key: str, value: str) -> None:
    """Refuse a run id (or experiment name) that is a path rather than a name.

    Raises:
        ConfigError: empty, ``.``, ``..``, holding a path separator, or over 200 bytes.
    """
    if value in ("", ".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise ConfigError(
            f"{key}={value!r} is not a name: {key} names one folder (letters, digits, "
            "-, _, no '/', not '.' or '..'). List runs with: ls <outputs_dir>/<experiment>/"
        )
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise ConfigError(
            f"{key}={value[:40]!r}... is too long for a folder's name "
            f"({size:,} bytes; at most {MAX_NAME_BYTES})"
        )


def note_new_folders(path: Path) -> None:
    """Remember which of ``path`` and its parents do not exist yet (this process makes them)."""
    path = Path(os.path.abspath(path))
    for folder in (path, *path.parents):
        if folder.exists():
            break
        made_here.add(folder)


def _started(run_dir: Path, marker: str) -> str:
    """When a run started (from run.json); the marker file's mtime when run.json says not."""
    try:
        meta = json.loads((run_dir / RUN_META).read_text(encoding="utf-8"))
        return str(meta["started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            mtime = (run_dir / marker).stat().st_mtime
        except OSError:
            return ""
        return datetime.fromtimestamp(mtime, UTC).isoformat()


def run_folders(
    outputs_dir: Path, experiment: str | None = None, *, marker: str = RUN_META
) -> list[Path]:
    """Run folders holding ``marker``, of ``experiment`` or of all, oldest first.

    Hidden folders (``.pipeline``, ``.sweeps``) are never runs.
    """
    # The name is escaped: 'a[1]' is no character class, 'st*r' matches no other experiment.
    pattern = f"{glob.escape(experiment)}/*/{marker}" if experiment else f"*/*/{marker}"
    found = [
        p.parent
        for p in outputs_dir.glob(pattern)
        if not p.parent.name.startswith(".") and not p.parent.parent.name.startswith(".")
    ]
    return sorted(found, key=lambda r: (_started(r, marker), r.name, r.parent.name))


def latest_run(
    outputs_dir: Path, experiment: str | None = None, *, marker: str = RUN_META
) -> Path | None:
    """The run started last (of ``experiment`` when given), or None when there is none."""
    runs = run_folders(outputs_dir, experiment, marker=marker)
    return runs[-1] if runs else None
