"""Issue 10.9: names as users type them.

An experiment named with spaces and non-ASCII letters, an experiments folder with both,
and a numeric experiment name all run, in Hydra's quoting or the shell's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, read_jsonl, runner_env, write_jsonl

pytestmark = pytest.mark.integration


def _run(tmp_path: Path, server: servers.Server, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "runner", *args, "progress=off", "index=false"]
    argv += [f"outputs_dir={tmp_path / 'outputs'}", f"limits_dir={tmp_path / 'limits'}"]
    return subprocess.run(
        argv, cwd=ROOT, env=runner_env(server.url), capture_output=True, text=True, timeout=120
    )


def _experiment(folder: Path, name: str) -> None:
    write_jsonl(
        folder / f"{name}.jsonl",
        [{"id": f"p{i}", "api": "openai", "model_name": "m", "prompt": "q"} for i in range(3)],
    )


def _one_run(tmp_path: Path, name: str) -> Path:
    (run_dir,) = (tmp_path / "outputs" / name).iterdir()
    assert len(read_jsonl(run_dir / "completed.jsonl")) == 3
    assert json.loads((run_dir / "run.json").read_text())["experiment"] == name
    return run_dir


@pytest.mark.parametrize(
    "typed",
    ["experiment='exp ünï 日本'", 'experiment="exp ünï 日本"', "experiment=exp ünï 日本"],
)
def test_experiment_with_spaces_and_non_ascii(
    tmp_path: Path, llmock_server: servers.Server, typed: str
) -> None:
    folder = tmp_path / "my exps ü"
    _experiment(folder, "exp ünï 日本")
    out = _run(tmp_path, llmock_server, typed, f"experiments_dir='{folder}'")
    assert out.returncode == 0, out.stderr
    _one_run(tmp_path, "exp ünï 日本")


def test_experiments_dir_with_spaces_as_the_shell_passes_it(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    folder = tmp_path / "my exps ü"
    _experiment(folder, "exp")
    out = _run(tmp_path, llmock_server, "experiment=exp", f"experiments_dir={folder}")
    assert out.returncode == 0, out.stderr
    _one_run(tmp_path, "exp")


def test_numeric_experiment_name(tmp_path: Path, llmock_server: servers.Server) -> None:
    _experiment(tmp_path / "experiments", "401")
    out = _run(
        tmp_path, llmock_server, "experiment=401", f"experiments_dir={tmp_path / 'experiments'}"
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    run_dir = _one_run(tmp_path, "401")
    assert "resume=" not in out.stderr and run_dir.name in out.stdout
