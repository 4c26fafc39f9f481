"""A reader that leaves early (``| head``): every command keeps its status, says nothing.

Each command runs as a user runs it, its stdout a pipe whose reader has already left (closed
before the command writes), as ``python -m runner ... | head -0`` gives. Python ignores
SIGPIPE, so each write raises BrokenPipeError: a finished run once printed "unexpected
BrokenPipeError ... please report it" and exited 1; ``--help`` tracebacks in four commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, read_jsonl, runner_argv, runner_env, write_jsonl

COMMANDS = [
    "runner",
    "runner.cache",
    "runner.check",
    "runner.evaluate",
    "runner.expand",
    "runner.index",
    "runner.pipeline",
    "runner.query",
    "runner.rephrase",
    "runner.report",
    "runner.upload_media",
    "runner.view",
]


def _reader_gone(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run ``argv`` with its stdout a pipe nobody reads; its exit status and stderr."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader leaves before the command writes anything
    err = proc.stderr.read()
    return proc.wait(timeout=120), err


@pytest.mark.integration
@pytest.mark.parametrize("command", COMMANDS)
def test_help_to_a_reader_that_left_exits_0_quietly(command: str, tmp_path: Path) -> None:
    env = runner_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    code, err = _reader_gone([sys.executable, "-m", command, "--help"], env, ROOT)
    assert (code, err) == (0, "")
    assert not (tmp_path / "cache" / "runner" / "errors").exists()


@pytest.mark.integration
def test_a_run_whose_reader_left_keeps_its_results_and_its_status(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    records = [
        {"id": i, "prompt": f"hi {i}", "api": "openai", "model_name": "m-pipe"} for i in range(5)
    ]
    write_jsonl(tmp_path / "experiments" / "piped.jsonl", records)
    env = runner_env(llmock_server.url, XDG_CACHE_HOME=str(tmp_path / "cache"))
    argv = runner_argv(tmp_path, "experiment=piped", "run_id=r1", "index=true")
    code, err = _reader_gone(argv, env, ROOT)
    assert code == 0, err
    assert "error" not in err.lower() and "Traceback" not in err
    assert not (tmp_path / "cache" / "runner" / "errors").exists()
    run = tmp_path / "outputs" / "piped" / "r1"
    assert [line["status"] for line in read_jsonl(run / "completed.jsonl")] == ["ok"] * 5
    assert (run / "report.html").exists()


@pytest.mark.integration
def test_a_run_with_errors_still_exits_1_when_its_reader_left(tmp_path: Path) -> None:
    records = [{"id": 1, "prompt": "hi", "api": "openai", "model_name": "m-pipe-bad"}]
    write_jsonl(tmp_path / "experiments" / "bad.jsonl", records)
    # No server on this port: the prompt ends in error (a connection fault, retried).
    nowhere = f"http://127.0.0.1:{servers.free_port()}"
    env = runner_env(nowhere, XDG_CACHE_HOME=str(tmp_path / "cache"))
    argv = runner_argv(tmp_path, "experiment=bad", "run_id=r1", "max_attempts=1")
    code, err = _reader_gone(argv, env, ROOT)
    assert code == 1, err
    assert "Traceback" not in err and "unexpected" not in err


@pytest.mark.integration
@pytest.mark.parametrize("closed", [1, 2], ids=["stdout", "stderr"])
def test_a_run_started_with_a_stream_closed_runs_to_its_end(
    tmp_path: Path, llmock_server: servers.Server, closed: int
) -> None:
    """``>&-`` / ``2>&-``: Python starts with that stream None; the run failed at its start
    (stderr: no line at all, exit 1) or at its exit (stdout: a traceback, exit 1)."""
    records = [
        {"id": i, "prompt": f"hi {i}", "api": "openai", "model_name": "m-closed"} for i in (1, 2)
    ]
    write_jsonl(tmp_path / "experiments" / "closed.jsonl", records)
    env = runner_env(llmock_server.url, XDG_CACHE_HOME=str(tmp_path / "cache"))
    argv = runner_argv(tmp_path, "experiment=closed", "run_id=r1")
    other = subprocess.PIPE
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env=env,
        stdout=None if closed == 1 else other,
        stderr=None if closed == 2 else other,
        preexec_fn=lambda: os.close(closed),
        timeout=120,
        text=True,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "Traceback" not in (done.stdout or "") + (done.stderr or "")
    run = tmp_path / "outputs" / "closed" / "r1"
    assert [line["status"] for line in read_jsonl(run / "completed.jsonl")] == ["ok", "ok"]
    assert json.loads((run / "run.json").read_text(encoding="utf-8"))["status"] == "completed"


@pytest.mark.integration
def test_a_terminal_that_cannot_show_a_character_gets_its_escape(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """``PYTHONIOENCODING=ascii`` (or a Latin-1 locale): a finished run whose folder holds a
    'ü' ended "unexpected UnicodeEncodeError ... please report it", exit 1."""
    record = {"id": 1, "prompt": "hi", "api": "openai", "model_name": "m-ascii"}
    write_jsonl(tmp_path / "experiments" / "caf\u00fc.jsonl", [record])
    env = runner_env(llmock_server.url, XDG_CACHE_HOME=str(tmp_path / "cache"))
    env["PYTHONIOENCODING"] = "ascii"
    argv = runner_argv(tmp_path, "experiment=caf\u00fc", "run_id=r1")
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert b"outputs/caf\\xfc/r1/completed.jsonl" in done.stdout
