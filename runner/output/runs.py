"""The run folders under ``outputs_dir``, oldest first, and "the latest run".

Every command that takes ``latest`` (``resume=latest``, ``runner.evaluate run=latest``,
``runner.report run=latest``) asks here, so they all mean the same run: the one started
last (``started_at`` in its ``run.json``; a run id breaks ties), of one experiment or of
all of them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from runner.output.run_folder import RUN_META

LATEST = "latest"


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
    pattern = f"{experiment}/*/{marker}" if experiment else f"*/*/{marker}"
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
