"""Which run folders a report covers: ``run=ID[,ID...]|latest`` and ``experiment=NAME``."""

from __future__ import annotations

from pathlib import Path

from runner.errors import BadInputError
from runner.run_dirs import LATEST, run_folders


def find_runs(outputs_dir: Path, run: str | None, experiment: str | None) -> list[Path]:
    """The run folders named by ``run`` and ``experiment``.

    Without ``run``: every run of ``experiment``, or the newest run of all. ``run=latest``:
    the newest run (of ``experiment`` when given).

    Raises:
        BadInputError: no such run or experiment, with the runs there are.
    """
    if not outputs_dir.is_dir():
        raise BadInputError(f"outputs_dir={outputs_dir}: no such folder; run an experiment first")
    known = run_folders(outputs_dir, experiment)
    where = f"experiment '{experiment}'" if experiment else str(outputs_dir)
    if not known:
        raise BadInputError(f"no runs of {where} in {outputs_dir}; run an experiment first")
    if run is None:
        return known if experiment else known[-1:]
    if run == LATEST:
        return known[-1:]
    chosen = []
    for run_id in (part.strip() for part in run.split(",") if part.strip()):
        matches = [p for p in known if p.name == run_id]
        if not matches:
            recent = ", ".join(p.name for p in known[-5:])
            raise BadInputError(f"run={run_id}: no such run of {where}. Recent runs: {recent}")
        chosen.extend(matches)
    return chosen
