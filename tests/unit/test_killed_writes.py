"""What writes cut off by ``kill -9`` leave in a run folder goes at its resume; nothing else."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from runner.output.run_folder import RunFolder
from runner.run.folder_checks import remove_killed_writes

GONE = 99999991  # above any pid_max: a process that has ended


def test_only_runners_own_temporary_files_of_ended_processes_go(tmp_path: Path) -> None:
    (tmp_path / ".hydra" / "resumes" / "t1").mkdir(parents=True)
    gone = [
        f"run.json.{GONE}.tmp",
        f"timeline.json.{GONE}.tmp",
        f"report.html.{GONE}.tmp",
        f".hydra/overrides.yaml.{GONE}.tmp",
        f".hydra/resumes/t1/config.yaml.{GONE}.tmp",
    ]
    kept = [
        f"report.html.{os.getpid()}.tmp",  # a report being written now
        f"notes.txt.{GONE}.tmp",  # not runner's
        "run.json.tmp",
        "completed.jsonl",
    ]
    for name in gone + kept:
        (tmp_path / name).write_text("x")
    remove_killed_writes(RunFolder(tmp_path))
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == (
        sorted(kept)
    )


def test_a_run_killed_while_running_is_not_shown_live(tmp_path: Path) -> None:
    """Its run.json says 'running' for good: the viewer showed it live, never moving."""
    from runner.view.live import live_state, running_runs

    here = socket.gethostname()
    runs = (
        ("killed", f"{GONE}\n{here}"),
        ("going", f"{os.getpid()}\n{here}"),
        ("elsewhere", f"{GONE}\nanother-host"),  # a cluster node's run: cannot be checked
        ("old", None),
    )
    for run, holder in runs:
        folder = tmp_path / "exp" / run
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(f'{{"run_id": "{run}", "status": "running"}}')
        if holder is not None:
            (folder / ".lock").write_text(holder + "\n")
    assert sorted(r["run_id"] for r in running_runs(tmp_path)) == ["elsewhere", "going", "old"]
    assert live_state(tmp_path / "exp" / "killed")["status"] == "stopped"
    assert live_state(tmp_path / "exp" / "going")["status"] == "running"


def test_a_torn_last_line_is_cut_before_the_next_line_is_appended(tmp_path: Path) -> None:
    # evaluations.jsonl after kill -9 mid-line, then a resume that judges: the new row was
    # glued to the torn one, and both were lost to every reader.
    from runner.output.writer import ResultWriter

    path = tmp_path / "evaluations.jsonl"
    path.write_bytes(b'{"a": 1}\n' + b'{"torn": "' + b"x" * 100_000)
    with ResultWriter(path) as writer:
        writer.write({"b": 2})
    assert path.read_bytes() == b'{"a": 1}\n{"b":2}\n'
    path.write_bytes(b'{"only": "torn')
    with ResultWriter(path) as writer:
        writer.write({"c": 3})
    assert path.read_bytes() == b'{"c":3}\n'
