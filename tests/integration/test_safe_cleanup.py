"""Issue 10.1: nothing outside a run folder this process made is ever deleted.

``run_id`` and ``resume`` are names, not paths: ``..``, ``.``, ``/`` and empty are refused
(exit 2) before Hydra makes a folder. Clean-up after a refused run removes only a folder
this invocation created, file by file, and only while it holds nothing but its own files.
Every case runs in a tree of sentinel files, through every entry point.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, runner_argv, runner_env, write_jsonl

BAD_NAMES = ["resume=..", "resume=.", "resume=/", "resume=", "run_id=..", "run_id=."]


BAD_NAMES += ["run_id=/", "run_id=", "run_id=../..", "resume=../exp", "experiment.name=.."]


def _tree(tmp_path: Path) -> list[Path]:
    """A project with a sentinel file at every level a bad path could reach."""
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"id": "a", "api": "openai", "model_name": "m", "prompt": "hi"}, {"id": "b"}],
    )
    files = [
        tmp_path / "sentinel.txt",
        tmp_path / "experiments" / "sentinel.txt",
        tmp_path / "outputs" / "sentinel.txt",
        tmp_path / "outputs" / "exp" / "sentinel.txt",
        tmp_path / "outputs" / "exp" / "mine" / "notes.txt",  # a folder a user made
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("keep me\n")
    return [*files, tmp_path / "experiments" / "exp.jsonl"]


def _run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, env=runner_env(None), capture_output=True, text=True, timeout=120
    )


def _all_there(files: list[Path]) -> None:
    missing = [str(p) for p in files if not p.is_file()]
    assert not missing, f"deleted: {missing}"


@pytest.mark.parametrize("override", BAD_NAMES)
def test_path_like_names_exit_2_and_delete_nothing(tmp_path: Path, override: str) -> None:
    files = _tree(tmp_path)
    out = _run(tmp_path, *runner_argv(tmp_path, "experiment=exp", override))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "not a name" in out.stderr
    _all_there(files)
    assert not (tmp_path / "outputs" / ".hydra").exists()
    assert not (tmp_path / ".hydra").exists()


def test_every_entry_point_leaves_every_file(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    py, base = sys.executable, runner_argv(tmp_path)[3:]
    dirs = [f"outputs_dir={tmp_path / 'outputs'}", f"experiments_dir={tmp_path / 'experiments'}"]
    commands = [
        [py, "-m", "runner", "-m", "experiment=exp", "run_id=..", *base],
        [py, "-m", "runner", "-m", "experiment=exp", "resume=.,..", *base],
        [py, "-m", "runner.check", "experiment=exp", "resume=..", *dirs],
        [py, "-m", "runner.check", "experiment=exp", "run_id=..", *dirs],
        [py, "-m", "runner.evaluate", "run=..", "evaluation=length", *dirs],
        [py, "-m", "runner.evaluate", "run=.", "evaluation=length", *dirs],
        [py, "-m", "runner.query", "SELECT 1", "--outputs-dir", str(tmp_path / "outputs")],
        [py, "-m", "runner.index", "--outputs-dir", str(tmp_path / "outputs")],
    ]
    for argv in commands:
        out = _run(tmp_path, *argv)
        assert "Traceback" not in out.stderr, (argv, out.stderr)
        _all_there(files)


def test_refused_run_in_a_users_folder_keeps_it(tmp_path: Path) -> None:
    """A valid name, an existing folder (not a run), bad input: the folder is the user's."""
    files = _tree(tmp_path)
    out = _run(tmp_path, *runner_argv(tmp_path, "experiment=exp", "run_id=mine"))
    assert out.returncode == 2, out.stderr
    _all_there(files)
    assert sorted(p.name for p in (tmp_path / "outputs" / "exp" / "mine").iterdir()) == [
        "notes.txt"
    ], "Hydra's config of a refused run stays out of a folder it did not make"


def test_refused_new_run_leaves_no_folder_behind(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    out = _run(tmp_path, *runner_argv(tmp_path, "experiment=exp", "run_id=fresh"))
    assert out.returncode == 2, out.stderr
    _all_there(files)
    assert not (tmp_path / "outputs" / "exp" / "fresh").exists()
