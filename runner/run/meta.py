"""A run's ``run.json``: what it holds when the run starts, and its final write."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from runner import __version__
from runner.config.schema import RunConfig
from runner.errors import DiskFullError
from runner.output.provenance import provenance
from runner.output.run_folder import RunFolder
from runner.prepare import PreparedRun
from runner.shards import split_shard_folder

# Groups whose planned totals run.json keeps for the viewer's live page.
PLANNED_GROUPS = 1_000

# The counts a finished run's run.json holds, written by a resume that finds every prompt ok.
FINAL_COUNTS = ("counts", "not_sent", "unsent", "total")


@dataclass
class Invocation:
    """What this invocation brings to ``run.json``: its overrides, config and changes."""

    overrides: Sequence[str]
    config: Mapping[str, Any] | None
    changed: Mapping[str, Any]
    settings: RunConfig
    sweep_dir: Path | None = None  # a sweep's jobs share max_cost_usd (runner.cost.ledger)

    def record(self, prepared: PreparedRun, at: str) -> dict[str, Any]:
        """This invocation's entry: when, with which overrides, from which code and input."""
        apis = {api for api, _name in prepared.plan.model_counts}
        if self.settings.model is not None:
            apis.add(self.settings.model.api)
        found = provenance(prepared.input_file, Path(self.settings.experiments_dir), apis)
        return {"at": at, "overrides": list(self.overrides), **found}


def start_meta(
    prepared: PreparedRun,
    folder: RunFolder,
    invocation: Invocation,
    previous: dict[str, Any],
    started: str,
) -> dict[str, Any]:
    """``run.json`` at the start: a new run's record, or the resumed one plus this resume."""
    record = invocation.record(prepared, started)
    if not previous:
        meta = _new_meta(prepared, folder, started)
        # The settings the run was started with stay here; a resume adds its own entry.
        meta.update(config=dict(invocation.config or {}), overrides=list(invocation.overrides))
        meta.update({k: v for k, v in record.items() if k not in ("at", "overrides")})
    else:
        meta = dict(previous)
        meta.setdefault("config", dict(invocation.config or {}))
        meta.setdefault("overrides", [])
        record["changed"] = dict(invocation.changed)
        meta.setdefault("resumes", []).append(record)
    meta.update(version=__version__, status="running", finished_at=None)
    return meta


def _new_meta(prepared: PreparedRun, folder: RunFolder, started: str) -> dict[str, Any]:
    return {
        "run_id": folder.run_id,
        "experiment": prepared.experiment,
        "input_file": str(prepared.input_file),
        "models": [
            {"api": api, "model_name": name or None}
            for api, name in sorted(prepared.plan.model_counts)
        ],
        "started_at": started,
        "finished_at": None,
        "status": "running",
        # What the viewer's live page measures progress against while the run goes.
        "planned": {
            "total": prepared.plan.total,
            "groups": {
                g.name: {"total": g.count, "limit_per_minute": g.rate_per_minute}
                # 100,000 groups would make run.json megabytes: the live page shows the first.
                for g in itertools.islice(prepared.plan.groups.values(), PLANNED_GROUPS)
            },
        },
        **_shard_meta(folder.run_id),
    }


def _shard_meta(run_id: str) -> dict[str, Any]:
    """A shard's place in its run: {"sharded_run": R, "shard": K, "shards": N}, else nothing."""
    split = split_shard_folder(run_id)
    if split is None:
        return {}
    return {"sharded_run": split[0], "shard": split[1], "shards": split[2]}


def write_final_meta(folder: RunFolder, meta: dict[str, Any], *, failing: bool) -> None:
    """Write the final ``run.json``; when the run is already failing, that error comes first.

    A full disk that stopped the run usually refuses ``run.json`` too: the old file is kept
    (never an empty one), and the user hears about the results first.
    """
    try:
        folder.write_meta(meta)
    except DiskFullError as exc:
        if not failing:
            raise
        logger.debug("{}", exc)
        logger.warning("{} could not be updated either: it still says 'running'", folder.meta)
