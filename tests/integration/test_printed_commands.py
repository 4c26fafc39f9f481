"""Issue 23.10: every command runner prints is safe to paste.

A run id or a folder is data: ``q$(touch pwned2)`` in a printed command once ran on paste.
Each printed command is parsed by bash (a function that prints its arguments) and must give
the words runner meant; the ``Query:`` line is then run by bash for real, and no file is made.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.commands import python_command, shell_command
from runner.errors import RunnerError
from runner.output.resume import resume_command
from tests import servers
from tests.helpers import ROOT, runner_env, write_jsonl

HOSTILE = "q$(touch pwned2)'`touch pwned3`"


def _words(command: str, cwd: Path) -> list[str]:
    """The arguments bash passes for ``command`` (nothing is run)."""
    script = 'words() { printf "%s\\0" "$@"; }; words ' + command
    done = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, check=True)
    return done.stdout.decode().split("\0")[:-1]


def _no_pwned(*folders: Path) -> None:
    for folder in folders:
        assert not list(folder.rglob("pwned*")), folder


@pytest.mark.integration
def test_query_and_view_lines_carry_the_outputs_dir_and_paste_safely(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    write_jsonl(
        tmp_path / "experiments" / "e.jsonl",
        [{"id": i, "prompt": "q", "api": "openai", "model_name": "m-paste"} for i in (1, 2)],
    )
    outputs = tmp_path / "out dir"
    done = subprocess.run(
        [
            sys.executable, "-m", "runner", "experiment=e", f"run_id={HOSTILE}", "index=true",
            f"experiments_dir={tmp_path / 'experiments'}", f"outputs_dir={outputs}",
            f"limits_dir={tmp_path / 'limits'}", "progress=off", "max_queries=6000",
        ],
        cwd=ROOT, env=runner_env(llmock_server.url), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = dict(
        line.split(":", 1) for line in done.stdout.splitlines() if line[:6] in ("Query:", "View: ")
    )
    query, view = printed["Query"].strip(), printed["View"].strip()
    python = _words(python_command(), ROOT)
    sql = f"SELECT id, status, response FROM responses WHERE run_id = '{HOSTILE.replace(chr(39), chr(39) * 2)}'"  # noqa: E501
    assert _words(query, ROOT) == [
        *python,
        "-m",
        "runner.query",
        "--outputs-dir",
        str(outputs),
        sql,
    ]
    assert _words(view, ROOT) == [*python, "-m", "runner.view", "--outputs-dir", str(outputs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pasted = subprocess.run(
        ["bash", "-c", query], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert pasted.returncode == 0, pasted.stderr
    assert pasted.stdout.count("ok") == 2, pasted.stdout  # the run's two answers
    _no_pwned(ROOT, tmp_path)


def test_resume_report_and_index_hints_paste_safely(tmp_path: Path) -> None:
    python = _words(python_command(), ROOT)
    outputs = f"outputs_dir={tmp_path / 'o $(touch pwned4)'}"
    resume = resume_command("e", HOSTILE, ["experiment=e", outputs])
    assert _words(resume, tmp_path) == [
        *python,
        "-m",
        "runner",
        "experiment=e",
        f"resume={HOSTILE}",
        outputs,
    ]
    report = shell_command("runner.report", f"run={HOSTILE}", "experiment=e")
    assert _words(report, tmp_path)[-2:] == [f"run={HOSTILE}", "experiment=e"]
    from runner.index.db import read_connection

    folder = tmp_path / "x $(touch pwned5)"
    folder.mkdir()
    with pytest.raises(RunnerError) as missing, read_connection(folder):
        pass
    hint = str(missing.value).split("`")[1]
    assert _words(hint, tmp_path)[-2:] == ["--outputs-dir", str(folder)]
    _no_pwned(ROOT, tmp_path)
