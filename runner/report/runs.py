"""Which run folders a report covers: ``run=ID[,ID...]|latest`` and ``experiment=NAME``."""

from __future__ import annotations

from pathlib import Path

from runner.errors import BadInputError
from runner.run_dirs import LATEST, run_folders
from runner.shards import split_shard_folder


def _sharded_run(name: str) -> str | None:
    split = split_shard_folder(name)
    return split[0] if split else None


def _shards_of(known: list[Path], run_id: str | None) -> list[Path]:
    """Every shard's folder of sharded run ``run_id`` (runner.shards), in shard order."""
    if run_id is None:
        return []
    found = [(split_shard_folder(p.name), p) for p in known]
    return [
        p
        for split, p in sorted(found, key=lambda x: x[0] or ("", 0, 0))
        if split and split[0] == run_id
    ]


def find_runs(outputs_dir: Path, run: str | None, experiment: str | None) -> list[Path]:
    """The run folders named by ``run`` and ``experiment``.

    Without ``run``: every run of ``experiment``, or the newest run of all. ``run=latest``:
    the newest run (of ``experiment`` when given). A sharded run (runner.shards) is all its
    shards' folders, named by its own id.

    Raises:
        BadInputError: no such run or experiment, with the runs there are.
    """
    if not outputs_dir.is_dir():
        raise BadInputError(f"outputs_dir={outputs_dir}: no such folder; run an experiment first")
    known = run_folders(outputs_dir, experiment)
    where = f"experiment '{experiment}'" if experiment else str(outputs_dir)
    if not known:
        raise BadInputError(f"no runs of {where} in {outputs_dir}; run an experiment first")
    if run is None and experiment:
        return known
    if run is None or run == LATEST:
        # The newest run, with all its shards when it is one of a sharded run.
        return _shards_of(known, _sharded_run(known[-1].name)) or known[-1:]
    chosen = []
    for run_id in (part.strip() for part in run.split(",") if part.strip()):
        # A sharded run's id names all its shards' folders.
        matches = [p for p in known if p.name == run_id] or _shards_of(known, run_id)
        if not matches:
            recent = ", ".join(p.name for p in known[-5:])
            raise BadInputError(f"run={run_id}: no such run of {where}. Recent runs: {recent}")
        chosen.extend(matches)
    return chosen
