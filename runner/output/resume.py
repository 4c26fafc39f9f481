"""Resuming a run folder: find it, check it belongs, repair it, and say what is done.

A resumed run continues its folder: prompts already ok are skipped, prompts that ended in
error are sent again, the rest are sent. So that no prompt ever ends with two result lines,
error lines are dropped from ``completed.jsonl`` before sending (their prompts will get a
new line), and a torn last line (a crash mid-write) is cut off.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from loguru import logger

from runner.commands import python_command
from runner.errors import BadInputError
from runner.hashing import file_sha256
from runner.output.disk import write_failed
from runner.output.run_folder import INPUT_DIR, RunFolder
from runner.run_dirs import LATEST, latest_run, run_folders
from runner.shards import shard_run_name


def find_run(
    outputs_dir: Path, experiment: str, resume: str, shard: int | None = None, shards: int = 1
) -> Path:
    """The folder of run ``resume`` (or the newest run) of ``experiment``.

    With ``shards`` > 1, the folder of shard ``shard`` of that run (runner.shards).

    Raises:
        BadInputError: no such run for this experiment.
    """
    folder = outputs_dir / experiment
    if resume == LATEST:
        found = latest_run(outputs_dir, experiment)
        if found is None:
            raise BadInputError(f"resume=latest: experiment '{experiment}' has no runs in {folder}")
        if shards <= 1:
            return found
        resume = found.name
    resume = shard_run_name(resume, shard, shards)
    runs = [p.name for p in run_folders(outputs_dir, experiment)]
    if resume not in runs:
        elsewhere = sorted(
            p.parent.name
            for p in outputs_dir.glob(f"*/{glob.escape(resume)}")
            if (p / "run.json").exists()
        )
        hint = f" It is a run of: {', '.join(elsewhere)}." if elsewhere else ""
        recent = f" Recent runs: {', '.join(runs[-5:])}." if runs else ""
        raise BadInputError(
            f"resume={resume}: no such run of experiment '{experiment}' in {folder}.{hint}{recent}"
        )
    return folder / resume


def check_same_input(folder: RunFolder, input_file: Path) -> None:
    """Refuse to resume a run made from a different input file.

    Raises:
        BadInputError: the input differs from the copy kept in the run folder.
    """
    kept = folder.path / INPUT_DIR / input_file.name
    if not kept.is_file():
        held = sorted(p.name for p in (folder.path / INPUT_DIR).glob("*"))
        raise BadInputError(
            f"resume: run {folder.run_id} was not made from {input_file.name} "
            f"(its input/ folder holds {held})"
        )
    if file_sha256(kept) != file_sha256(input_file):
        raise BadInputError(
            f"resume: {input_file} has changed since run {folder.run_id} started; "
            "resume only continues a run of the same input. Start a new run instead."
        )


def repair_and_collect(folder: RunFolder) -> bytearray:
    """Cut a torn last line, drop error lines, and return a bitmap of input lines done.

    Bit ``n`` is set when input line ``n`` already has an ok result.

    Raises:
        DiskFullError: the repaired copy could not be written (the results are untouched).
    """
    path = folder.completed
    if not path.exists():
        return bytearray()
    tmp = path.with_suffix(".jsonl.repair")
    try:
        done, kept_lines, dropped, torn = _repair(path, tmp)
    except OSError as exc:  # a full disk: the results stay as they were
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_failed(exc, path, "results (repairing them to resume)") from None
    logger.info(
        "Resuming run {}: {} prompt(s) already ok, {} error line(s) to retry, {} torn line(s) cut",
        folder.run_id,
        kept_lines,
        dropped,
        torn,
    )
    return done


def _repair(path: Path, tmp: Path) -> tuple[bytearray, int, int, int]:
    """Copy the ok lines of ``path`` through ``tmp`` and replace it; the bitmap and counts."""
    done = bytearray()
    kept_lines = dropped = torn = 0
    with path.open("rb") as src, tmp.open("wb") as dst:
        for raw in src:
            if not raw.endswith(b"\n"):
                torn += 1
                continue
            try:
                line = json.loads(raw)
                number = int(line["line"])
                ok = line.get("status") == "ok"
            except (ValueError, KeyError, TypeError):
                torn += 1
                continue
            if not ok:
                dropped += 1
                continue
            byte, bit = divmod(number, 8)
            if byte >= len(done):
                done.extend(bytes(byte - len(done) + 1))
            if done[byte] & (1 << bit):
                continue  # a duplicate from an older version: keep the first
            done[byte] |= 1 << bit
            dst.write(raw)
            kept_lines += 1
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, path)
    return done, kept_lines, dropped, torn


def line_done(done: bytearray, number: int) -> bool:
    """Whether input line ``number`` is marked done in the bitmap."""
    byte, bit = divmod(number, 8)
    return byte < len(done) and bool(done[byte] & (1 << bit))


# Override values Hydra and the shell both take as they are; anything else gets quoted.
_PLAIN = re.compile(r"[A-Za-z0-9_./:+-]+")
# What a resume needs to find the run again; other settings come from the run itself.
_LOCATING = ("experiment", "experiments_dir", "outputs_dir")


def _hydra_quoted(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def resume_command(settings_experiment: str, run_id: str, overrides: Sequence[str]) -> str:
    """The command that continues this run, as typed in the folder it was started from.

    ``experiment``, ``experiments_dir`` and ``outputs_dir`` are repeated as they were given
    (already in Hydra's quoting); the rest of the settings are the run's own on resume.
    """
    given: dict[str, str] = {}
    for item in overrides:
        key, sep, _value = item.partition("=")
        if sep and key in _LOCATING:
            given[key] = item
    experiment = given.pop("experiment", f"experiment={_hydra_quoted(settings_experiment)}")
    args = [python_command(), "-m", "runner", experiment, f"resume={run_id}", *given.values()]
    return " ".join(shlex.quote(a) for a in args)
