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
from tests.unit.test_pipeline import _records as _records

pytestmark = pytest.mark.integration


ROOT = Path(__file__).resolve().parents[2]


def _start(tmp_path: Path, server: servers.Server, *extra: str) -> subprocess.Popen[str]:
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
            *extra,
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


def test_a_file_copied_in_two_halves_runs_once(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """Issue 23 item 4: a copy that pauses halfway is one run of all its prompts, not two."""
    model = unique_model("gpt-halves")
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    lines = _records(model, 100)
    process = _start(tmp_path, llmock_server, "settle_s=3")
    try:
        time.sleep(2)  # watching
        target = experiments / "copied.jsonl"
        with target.open("w") as f:
            f.writelines(lines[:50])
        time.sleep(1.5)  # the copy pauses (longer than watchfiles' debounce)
        with target.open("a") as f:
            f.writelines(lines[50:])
        _wait(lambda: "exit" in _state(tmp_path).get("copied.jsonl", {}))
        time.sleep(3)  # a second run would start now
    finally:
        out = _stop(process)
    assert _state(tmp_path)["copied.jsonl"]["exit"] == 0, out
    assert len(list((tmp_path / "outputs").glob("copied/*/run.json"))) == 1, out
    assert len(llmock_bodies(llmock_server, model)) == 100


def test_a_file_changed_after_its_run_is_not_run_again(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """Changed once its run ended: a warning, no second run (its prompts were sent)."""
    model = unique_model("gpt-changed")
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    lines = _records(model, 3)
    (experiments / "grow.jsonl").write_text("".join(lines[:2]))
    process = _start(tmp_path, llmock_server, "settle_s=0.5")
    try:
        _wait(lambda: "exit" in _state(tmp_path).get("grow.jsonl", {}))
        (experiments / "grow.jsonl").write_text("".join(lines))
        time.sleep(4)
    finally:
        out = _stop(process)
    assert "grow.jsonl changed after its run" in out
    assert len(list((tmp_path / "outputs").glob("grow/*/run.json"))) == 1
    assert len(llmock_bodies(llmock_server, model)) == 2


def test_a_file_whose_run_is_alive_is_not_started(tmp_path: Path) -> None:
    """Another pipeline's run of the file is alive (its pid recorded): no second run."""
    from runner.hashing import file_sha256
    from runner.pipeline import Pipeline

    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "busy.jsonl").write_text(_records("m", 1)[0])
    digest = file_sha256(experiments / "busy.jsonl")
    pipeline = Pipeline(experiments, tmp_path / "outputs", [], settle_s=0)
    state = {"busy.jsonl": {"sha256": digest, "pid": os.getpid()}}
    assert pipeline.pending(state) == ([], 0)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its run died: resumed
    state = {"busy.jsonl": {"sha256": digest, "pid": dead.pid}}
    assert [p.name for p, _ in pipeline.pending(state)[0]] == ["busy.jsonl"]


def test_sigterm_stops_the_pipeline_and_its_run_resumably(tmp_path: Path) -> None:
    """SIGTERM to the pipeline reaches its run: stopped (130, resumed next time), not orphaned."""
    model = unique_model("gpt-term")
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    with servers.llmock("--latency-ms", "1500") as slow:
        process = _start(tmp_path, slow, "settle_s=0.2", "max_concurrency=1")
        try:
            (experiments / "slow.jsonl").write_text("".join(_records(model, 20)))
            _wait(lambda: "pid" in _state(tmp_path).get("slow.jsonl", {}))
            time.sleep(3)  # sending, one request at a time
        finally:
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    assert _state(tmp_path)["slow.jsonl"]["exit"] == 130, out
