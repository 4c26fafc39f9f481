"""Runs still going: found from their ``run.json`` and counted from ``completed.jsonl``.

A run enters the index when it ends, so the viewer finds running ones by their ``run.json``
(status ``running``) and counts their results as they are appended, reading only the bytes
added since the last look (a refresh costs what the run wrote since, not the whole file).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.output.run_folder import COMPLETED, LOCK_FILE, RUN_META
from runner.output.run_lock import writer_ended
from runner.output.stats import shown_limit

# Rates are measured over the answers of the last minute.
WINDOW_S = 60.0


@dataclass
class _Tally:
    offset: int = 0
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)


_TALLIES: dict[Path, _Tally] = {}
_LOCK = threading.Lock()


def _meta(run_dir: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((run_dir / RUN_META).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) else None


def _status(run_dir: Path, meta: dict[str, Any]) -> str:
    """The run's status; ``stopped`` for one whose ``run.json`` says running though the
    process writing it has ended (``kill -9``, a crash): it is no longer going."""
    status = str(meta.get("status") or "unknown")
    return "stopped" if status == "running" and writer_ended(run_dir / LOCK_FILE) else status


def current_status(run_dir: Path) -> str:
    """A run's status as its ``run.json`` says now (``stopped``: its process has ended).

    The index keeps the status of its last update: a run killed with ``kill -9`` says
    ``running`` there for good.
    """
    meta = _meta(run_dir)
    return _status(run_dir, meta) if meta is not None else "unknown"


def running_runs(outputs_dir: Path) -> list[dict[str, Any]]:
    """Runs whose ``run.json`` says running and whose process runs, newest first."""
    found = []
    for meta_path in Path(outputs_dir).glob(f"*/*/{RUN_META}"):
        meta = _meta(meta_path.parent)
        if meta and _status(meta_path.parent, meta) == "running":
            found.append(
                {
                    "run_id": str(meta.get("run_id") or meta_path.parent.name),
                    "experiment": str(meta.get("experiment") or meta_path.parent.parent.name),
                    "started_at": str(meta.get("started_at") or ""),
                    "run_dir": meta_path.parent,
                }
            )
    return sorted(found, key=lambda r: r["started_at"], reverse=True)


def _timestamp(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def _count(tally: _Tally, path: Path) -> None:
    with path.open("rb") as handle:
        handle.seek(tally.offset)
        chunk = handle.read()
    end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
    tally.offset += end
    for raw in chunk[:end].splitlines():
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            continue
        group = tally.groups.setdefault(
            str(line.get("rate_group") or "all"),
            {"ok": 0, "error": 0, "retries": 0, "cached": 0, "recent": []},
        )
        group["ok" if line.get("status") == "ok" else "error"] += 1
        group["retries"] += max(0, int(line.get("attempts") or 1) - 1)
        group["cached"] += bool(line.get("cached"))
        sent = _timestamp(line.get("timestamp_received") or line.get("timestamp_sent"))
        if sent is not None:
            group["recent"].append(sent)


def live_state(run_dir: Path) -> dict[str, Any]:
    """A running (or just finished) run's counts per group: rate vs limit, ok, errors, ETA."""
    meta = _meta(run_dir) or {}
    planned = meta.get("planned") or {}
    path = run_dir / COMPLETED
    with _LOCK:
        tally = _TALLIES.setdefault(run_dir, _Tally())
        if path.is_file():
            _count(tally, path)
        now = time.time()
        groups = []
        for name, g in sorted(tally.groups.items()):
            g["recent"] = [t for t in g["recent"] if t >= now - WINDOW_S]
            plan = (planned.get("groups") or {}).get(name) or {}
            total = plan.get("total")
            done = g["ok"] + g["error"]
            rate = len(g["recent"]) * 60.0 / WINDOW_S
            eta = (total - done) / rate * 60.0 if total and rate else None
            groups.append(
                {
                    "name": name,
                    "ok": g["ok"],
                    "error": g["error"],
                    "retries": g["retries"],
                    "cached": g["cached"],
                    "done": done,
                    "total": total,
                    "per_minute": round(rate, 1),
                    "limit_per_minute": shown_limit(plan.get("limit_per_minute")),
                    "eta_s": None if eta is None else round(eta),
                }
            )
    return {
        "run_id": str(meta.get("run_id") or run_dir.name),
        "experiment": str(meta.get("experiment") or run_dir.parent.name),
        "status": _status(run_dir, meta),
        "total": planned.get("total") or meta.get("total"),
        "groups": groups,
    }
