"""Limits shared between processes that send with the same credentials."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, read_jsonl, runner_argv, runner_env, write_jsonl


def _send_times(run_dir: Path) -> list[float]:
    return [
        datetime.fromisoformat(line["timestamp_sent"]).timestamp()
        for line in read_jsonl(run_dir / "completed.jsonl")
    ]


def _two_runs_at_once(tmp_path: Path, server: servers.Server, shared: str) -> list[float]:
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [
            {"id": i, "api": "openai", "model_name": "gpt-shared", "prompt": f"q{i}"}
            for i in range(30)
        ],
    )
    args = ("experiment=exp", "max_queries=600")
    procs = [
        subprocess.Popen(
            # cache=off: both pairs of runs send every prompt (the second pair asks the same).
            runner_argv(tmp_path, *args, f"shared_limits={shared}", "cache=off"),
            cwd=ROOT,
            env=runner_env(server.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    runs = list((tmp_path / "outputs" / "exp").iterdir())
    assert len(runs) == 2
    return sorted(t for run in runs for t in _send_times(run))


@pytest.mark.integration
def test_two_runs_with_one_key_share_its_limit(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    times = _two_runs_at_once(tmp_path / "shared", llmock_server, "file")
    # 60 requests at 600/min together: 59 gaps of 0.1 s, never faster than the limit.
    combined_rate = (len(times) - 1) / (times[-1] - times[0]) * 60
    assert combined_rate <= 600 * 1.1, combined_rate
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t < start + 1.0)
        assert in_window <= 10 + 10 + 1  # a second's share, plus the burst allowance
    # Without sharing, each run takes the full rate: the pair goes about twice as fast.
    alone = _two_runs_at_once(tmp_path / "alone", llmock_server, "none")
    alone_rate = (len(alone) - 1) / (alone[-1] - alone[0]) * 60
    assert alone_rate > 600 * 1.5, alone_rate
