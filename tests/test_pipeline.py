"""``python -m runner.pipeline``: a watched folder, each new file run once, across restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import runner_env, write_jsonl
from tests.providers_support import llmock_bodies, unique_model

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def _start(tmp_path: Path, server: servers.Server) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner.pipeline",
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            f"limits_dir={tmp_path / 'limits'}",
            "progress=off",
            "index=false",
            "max_queries=6000",
        ],
        cwd=ROOT,
        env={**runner_env(server.url), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _state(tmp_path: Path) -> dict[str, dict[str, object]]:
    path = tmp_path / "outputs" / ".pipeline" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    return out


def test_two_dropped_files_are_two_runs_and_a_restart_runs_nothing(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-pipe")
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    process = _start(tmp_path, llmock_server)
    try:
        time.sleep(2)  # started and idle: watching
        before = _cpu_seconds(process.pid)
        time.sleep(3)
        assert (_cpu_seconds(process.pid) - before) / 3 < 0.01, "idle CPU must stay under 1%"
        write_jsonl(
            experiments / "first.jsonl", [{"api": "openai", "model_name": model, "prompt": "one"}]
        )
        _wait(lambda: "first.jsonl" in _state(tmp_path))
        write_jsonl(experiments / "broken.jsonl", [{"api": "openai", "prompt": 3}])
        write_jsonl(
            experiments / "second.jsonl", [{"api": "openai", "model_name": model, "prompt": "two"}]
        )
        _wait(lambda: {"second.jsonl", "broken.jsonl"} <= set(_state(tmp_path)))
    finally:
        out = _stop(process)
    state = _state(tmp_path)
    assert state["first.jsonl"]["exit"] == 0 and state["second.jsonl"]["exit"] == 0
    assert state["broken.jsonl"]["exit"] == 2, out  # logged, and the pipeline went on
    assert "broken.jsonl finished with exit status 2" in out
    runs = sorted(p.parent.parent.name for p in (tmp_path / "outputs").glob("*/*/run.json"))
    assert runs == ["first", "second"]
    assert len(llmock_bodies(llmock_server, model)) == 2
    assert sorted(p.name for p in experiments.iterdir()) == [
        "broken.jsonl",
        "first.jsonl",
        "second.jsonl",
    ]  # never moved

    process = _start(tmp_path, llmock_server)
    time.sleep(4)
    _stop(process)
    assert _state(tmp_path) == state and len(llmock_bodies(llmock_server, model)) == 2
