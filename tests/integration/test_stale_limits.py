"""Shared limit state that cannot go stale (issue 13.3): files and the Ray actor's state.

The state records the rate it was reserved at and the process holding it: a run is never
held back by a slot reserved at another rate, or by a process that has ended.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from runner.limits import shared_limits
from runner.limits.shared_limits import FileBucket, Holder
from tests import servers
from tests.helpers import ROOT, read_jsonl, runner_argv, runner_env, write_jsonl


def test_a_slot_held_by_a_process_that_ended_is_reset(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    here = Holder.this_process()
    # A schedule a minute ahead, at this run's own rate, written by that process.
    state = shared_limits._STATE.pack(time.time() + 60, 60.0, ended.pid, here.host)
    (tmp_path / "b").write_bytes(state)
    bucket = FileBucket(tmp_path / "b", 60)
    assert bucket.reserve() == 0
    bucket.close()


def _first_send_delay(run_dir: Path) -> float:
    meta = json.loads((run_dir / "run.json").read_text())
    started = datetime.fromisoformat(meta["started_at"]).timestamp()
    sent = min(
        datetime.fromisoformat(line["timestamp_sent"]).timestamp()
        for line in read_jsonl(run_dir / "completed.jsonl")
    )
    return sent - started


@pytest.mark.integration
def test_a_fast_run_is_not_held_back_by_an_interrupted_slow_one(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    records = [
        {"id": i, "api": "openai", "model_name": "gpt-stale", "prompt": f"q{i}"} for i in range(3)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    env = runner_env(llmock_server.url)
    slow = subprocess.Popen(
        runner_argv(tmp_path, "experiment=exp", "max_queries=1", "run_id=slow"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    completed = tmp_path / "outputs" / "exp" / "slow" / "completed.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (completed.exists() and completed.read_text()):
        time.sleep(0.05)
    slow.send_signal(signal.SIGINT)  # after its first request: its next slot is a minute away
    slow.communicate(timeout=30)
    assert len(read_jsonl(completed)) == 1
    fast = subprocess.run(
        runner_argv(tmp_path, "experiment=exp", "max_queries=6000", "run_id=fast"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fast.returncode == 0, fast.stderr[-2000:]
    assert _first_send_delay(tmp_path / "outputs" / "exp" / "fast") < 1.0
