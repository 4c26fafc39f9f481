"""Issue 12.9: run.json records where its results came from, for the run and each resume.

``input_sha256`` of the experiment file, ``git_commit``/``git_dirty`` of the repository
holding the experiments folder (null when none), ``versions`` and ``host``; the index's
``runs`` table carries them, so a query can join any result row to them.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runner import __version__
from tests import servers
from tests.helpers import ROOT, run_cli, runner_env, write_jsonl

pytestmark = pytest.mark.integration


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_run_and_resume_record_their_provenance(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    exp = write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"id": f"p{i}", "api": "openai", "model_name": "m", "prompt": "q"} for i in range(4)],
    )
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "experiments")
    _git(tmp_path, "commit", "-q", "-m", "experiments")
    head = _git(tmp_path, "rev-parse", "HEAD")
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", "run_id=r1", "max_queries=600")
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / "outputs" / "exp" / "r1"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["input_sha256"] == hashlib.sha256(exp.read_bytes()).hexdigest()
    assert (meta["git_commit"], meta["git_dirty"]) == (head, False)
    assert meta["host"] == socket.gethostname()
    versions = meta["versions"]
    assert versions["runner"] == __version__
    assert versions["python"] == platform.python_version()
    assert {"hydra-core", "aiohttp", "duckdb"} <= set(versions)
    assert all(versions[p] for p in ("hydra-core", "aiohttp", "duckdb"))
    assert "llama-cpp-python" not in versions, "only recorded when the local model is used"

    (tmp_path / "experiments" / "notes.txt").write_text("staged, so the tree is dirty\n")
    _git(tmp_path, "add", "experiments/notes.txt")
    completed = run_dir / "completed.jsonl"
    completed.write_text(completed.read_text().splitlines(keepends=True)[0])
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", "resume=r1")
    assert out.returncode == 0, out.stderr
    (resume,) = json.loads((run_dir / "run.json").read_text())["resumes"]
    assert resume["input_sha256"] == meta["input_sha256"]
    assert (resume["git_commit"], resume["git_dirty"]) == (head, True)
    assert resume["host"] == meta["host"] and resume["versions"] == versions

    query = (
        "SELECT r.id, runs.input_sha256, runs.git_commit, runs.git_dirty, runs.host, "
        "runs.versions->>'duckdb' FROM responses r JOIN runs USING (run_id) ORDER BY r.id"
    )
    outputs = ["--outputs-dir", str(tmp_path / "outputs")]
    for argv in (["runner.index", *outputs], ["runner.query", query, "--format", "csv", *outputs]):
        rows = subprocess.run(
            [sys.executable, "-m", *argv],
            cwd=ROOT,
            env=runner_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert rows.returncode == 0, rows.stderr
    assert meta["input_sha256"] in rows.stdout and head in rows.stdout
    assert f",{head},false,{meta['host']},{versions['duckdb']}" in rows.stdout


def test_no_repository_is_null(tmp_path: Path) -> None:
    from runner.output.provenance import git_state

    assert git_state(tmp_path) == (None, None)
