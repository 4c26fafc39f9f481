"""Issue 10.4: one writer per run folder.

A resume while the run is still going is refused (exit 2, naming the process holding the
run's OS lock), and the live run's results all land in the file on disk. ``run_id=`` of an
existing run without ``resume=`` is refused too, adding nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, read_jsonl, run_cli, runner_argv, runner_env, write_jsonl

pytestmark = pytest.mark.integration


N = 120


@pytest.fixture(scope="module")
def slow_llmock() -> Iterator[servers.Server]:
    with servers.llmock("--latency-ms", "30") as server:
        yield server


def _experiment(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [
            {"id": f"p{i}", "api": "openai", "model_name": "gpt-x", "prompt": f"q{i}"}
            for i in range(N)
        ],
    )


def _hydra_files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob(".hydra/*.yaml")}


def test_resume_of_a_live_run_is_refused_naming_its_process(
    tmp_path: Path, slow_llmock: servers.Server
) -> None:
    _experiment(tmp_path)
    first = subprocess.Popen(
        # 2 prompts a second: still going when the resume comes, however slow the machine.
        runner_argv(tmp_path, "experiment=exp", "max_queries=120", "max_concurrency=2"),
        cwd=ROOT,
        env=runner_env(slow_llmock.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not list((tmp_path / "outputs").rglob("completed.jsonl")):
        assert time.monotonic() < deadline and first.poll() is None, "the run never started"
        time.sleep(0.02)
    (run_dir,) = (tmp_path / "outputs" / "exp").iterdir()
    inode = (run_dir / "completed.jsonl").stat().st_ino
    hydra_before = _hydra_files(run_dir)
    second = run_cli(tmp_path, slow_llmock.url, "experiment=exp", f"resume={run_dir.name}")
    assert first.poll() is None, "the first run ended before the resume was tried"
    assert second.returncode == 2, second.stderr
    assert f"process {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 130, stderr
    assert (run_dir / "completed.jsonl").stat().st_ino == inode
    lines = read_jsonl(run_dir / "completed.jsonl")
    meta = json.loads((run_dir / "run.json").read_text())
    # Every result the live run counted is in the file on disk, once.
    assert len(lines) == len({line["id"] for line in lines}) == meta["counts"]["ok"] > 0
    assert _hydra_files(run_dir) == hydra_before, "a refused resume rewrote .hydra/"
    assert not list(run_dir.glob(".hydra-pending-*"))


def test_run_id_of_an_existing_run_needs_resume(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    _experiment(tmp_path)
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", "run_id=r1", "max_queries=6000")
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / "outputs" / "exp" / "r1"
    before = (run_dir / "completed.jsonl").read_bytes()
    meta_before = (run_dir / "run.json").read_bytes()
    hydra_before = _hydra_files(run_dir)
    again = run_cli(tmp_path, llmock_server.url, "experiment=exp", "run_id=r1")
    assert again.returncode == 2, again.stderr
    assert "resume=r1" in again.stderr
    assert (run_dir / "completed.jsonl").read_bytes() == before
    assert (run_dir / "run.json").read_bytes() == meta_before
    assert _hydra_files(run_dir) == hydra_before
    assert json.loads(meta_before)["status"] == "completed"
