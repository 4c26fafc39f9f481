"""Whether a run may use its folder: a new run never writes into one, a resume needs one."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from loguru import logger

from runner.config.schema import RunConfig
from runner.errors import BadInputError
from runner.output.resume import check_same_input, find_run
from runner.output.run_folder import HYDRA_DIR, HYDRA_FILES, LOCK_FILE, RunFolder
from runner.output.summary import Summary
from runner.prepare import PreparedRun, experiment_name, input_path
from runner.processes import process_alive
from runner.run.result import RunResult
from runner.run_dirs import RUN_META, made_here


def refuse_existing(settings: RunConfig, folder: RunFolder) -> None:
    """A new run never writes into a run that exists: that is what resume is for.

    Nor into a folder of someone else's: ``run_id=mine`` of a folder made by hand appended
    the run's lines to the ``completed.jsonl`` it held and replaced its ``report.html``.
    """
    if folder.meta.exists():
        resume = shlex.quote(f"resume={folder.run_id}")
        raise BadInputError(
            f"run_id={folder.run_id}: experiment '{experiment_name(settings)}' already has "
            f"this run ({folder.path}); continue it with {resume}, or pick "
            "another run_id (or none, for a new one)"
        )
    held = _not_made_here(folder.path)
    if held:
        raise BadInputError(
            f"run_id={folder.run_id}: {folder.path} already holds {', '.join(held[:3])}"
            f"{' ...' if len(held) > 3 else ''} and is no run (no {folder.meta.name}); a run "
            "writes only into a folder of its own: pick another run_id (or none, for a new one)"
        )


def _not_made_here(path: Path) -> list[str]:
    """What a folder this process did not make holds (its lock file aside), sorted."""
    if Path(os.path.abspath(path)) in made_here or not path.is_dir():
        return []
    return sorted(item.name for item in path.iterdir() if item.name != LOCK_FILE)


def require_run(settings: RunConfig, folder: RunFolder) -> None:
    """A resume needs the run's folder: else say which runs there are."""
    if not folder.meta.exists():
        find_run(
            Path(settings.outputs_dir),
            experiment_name(settings),
            settings.resume,
            settings.shard,
            settings.shards,
        )
        raise BadInputError(f"resume={settings.resume}: {folder.path} is not a run folder")


def check_resumable(settings: RunConfig, folder: RunFolder) -> dict[str, Any]:
    """The resumed run's ``run.json``, once its input and experiment are checked."""
    check_same_input(folder, input_path(settings))
    previous = folder.read_meta()
    if previous.get("experiment") not in (None, experiment_name(settings)):
        raise BadInputError(
            f"resume={settings.resume}: that run is of experiment "
            f"'{previous.get('experiment')}', not '{experiment_name(settings)}'"
        )
    return previous


def already_complete(
    prepared: PreparedRun, folder: RunFolder, previous: dict[str, Any]
) -> RunResult:
    """A resume of a run with every prompt ok: nothing to send, ``run.json`` untouched.

    (Unless the run's end was cut off: :func:`ending_cut_off`, finished by the caller.)
    """
    plan = prepared.plan
    logger.info(
        "Run {} is already complete: all {} prompt(s) are ok; nothing was sent.",
        folder.run_id,
        plan.total,
    )
    if prepared.evaluation is not None:
        prepared.evaluation.close()
    summary = Summary(
        run_id=folder.run_id,
        experiment=prepared.experiment,
        total=plan.total,
        ok=plan.total,
        error=0,
        not_sent=0,
        wall_time_s=float(previous.get("wall_time_s") or 0.0),
        groups={},
        skipped=plan.skipped,
    )
    return RunResult(folder, summary, {"already_complete": True})


def ending_cut_off(folder: RunFolder, previous: dict[str, Any]) -> bool:
    """Whether a run with every prompt ok stopped before its end (``kill -9``, a full disk).

    Its ``run.json`` does not say ``completed`` (it still says ``running``), or it has no
    report: the end of the run (run.json, the index, the report) was cut off.
    """
    from runner.report.render import REPORT_FILE

    return previous.get("status") != "completed" or not (folder.path / REPORT_FILE).exists()


def remove_killed_writes(folder: RunFolder) -> None:
    """Remove what writes cut off by ``kill -9`` left: ``run.json.<pid>.tmp`` and the like.

    Only runner's own files (``run.json``, the timeline, the report, ``.hydra``'s), and only
    of a process that has ended: a ``runner.report`` still writing keeps its file.
    """
    from runner.engine.timeline import TIMELINE_FILE
    from runner.report.render import REPORT_FILE

    own = {RUN_META, TIMELINE_FILE, REPORT_FILE, *HYDRA_FILES}
    for tmp in [*folder.path.glob("*.tmp"), *(folder.path / HYDRA_DIR).rglob("*.tmp")]:
        base, _, pid = tmp.name.removesuffix(".tmp").rpartition(".")
        if base in own and pid.isdigit() and not process_alive(int(pid)):
            tmp.unlink(missing_ok=True)
