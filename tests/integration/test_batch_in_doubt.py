"""A batch is never created twice: a kill -9 while the provider's create is slow, then a
resume at once, finds the batch the killed create made (by its tag) instead of making another.

The in-test server (tests/batch_server.py, tests/batch_server_apis.py) makes the batch
even when the client has gone, as a provider does with a large create, and only after the
resume has looked for it once (and found nothing) and ``create_delay`` more seconds. One
test per batch API with a list endpoint: OpenAI (``metadata``), Anthropic (the custom_id
marker) and Gemini (``displayName``).
"""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

import pytest

from runner.api import run_experiment
from tests.batch_server import batch_server
from tests.batch_support import BATCH_MODELS, batch_env
from tests.helpers import ROOT, read_jsonl, runner_argv, write_jsonl

N = 20
CREATE_DELAY_S = 2.0
SETTINGS = ("mode=batch", "batch_poll_s=0.2", "backoff_base_s=0.05", "shared_limits=none")


def _experiment(tmp_path: Path, api: str) -> None:
    records = [
        {"id": f"p{i}", "api": api, "model_name": BATCH_MODELS[api], "prompt": f"question {i}"}
        for i in range(N)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)


@pytest.mark.parametrize("api", sorted(BATCH_MODELS))
def test_a_kill_during_a_slow_create_then_an_immediate_resume_makes_one_batch(
    tmp_path: Path, api: str
) -> None:
    _experiment(tmp_path, api)
    creating = threading.Event()
    with batch_server([], create_delay=CREATE_DELAY_S) as server:
        server.create_after_a_look = True  # the resume looks (and finds nothing) first
        server.hooks.append(lambda step: creating.set() if step == "create" else None)
        env = batch_env(api, server.url)
        proc = subprocess.Popen(
            runner_argv(tmp_path, "experiment=exp", *SETTINGS),
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert creating.wait(60), "the run never sent its create"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        assert server.batches == []  # killed while the provider was still making it
        (run_dir,) = (tmp_path / "outputs" / "exp").iterdir()
        result = run_experiment(
            "exp",
            [
                f"experiments_dir={tmp_path / 'experiments'}",
                f"outputs_dir={tmp_path / 'outputs'}",
                f"resume={run_dir.name}",
                "progress=off",
                "index=false",
                *SETTINGS,
            ],
            env=env,
        )
        made = [b["id"] for b in server.batches]
    assert len(made) == 1, made  # the killed create's batch, found by its tag: no second one
    lines = read_jsonl(result.run_dir / "completed.jsonl")
    assert sorted(line["id"] for line in lines) == sorted(f"p{i}" for i in range(N))
    assert {line["status"] for line in lines} == {"ok"}
    assert {line["batch_id"] for line in lines} == set(made)
    events = [e["event"] for e in read_jsonl(run_dir / "batches.jsonl")]
    assert "abandoned" not in events


def test_a_create_that_times_out_is_looked_for_before_it_is_sent_again(tmp_path: Path) -> None:
    """Within a run: the create's answer comes after timeout_s (the batch is made all the
    same); the run finds it by its tag instead of creating a second one."""
    _experiment(tmp_path, "openai")
    with batch_server([], create_delay=2.0) as server:
        result = run_experiment(
            "exp",
            [
                f"experiments_dir={tmp_path / 'experiments'}",
                f"outputs_dir={tmp_path / 'outputs'}",
                "progress=off",
                "index=false",
                "timeout_s=1",
                *SETTINGS,
            ],
            env=batch_env("openai", server.url),
        )
        made = [b["id"] for b in server.batches]
    assert len(made) == 1, made
    lines = read_jsonl(result.run_dir / "completed.jsonl")
    assert len(lines) == N and {line["status"] for line in lines} == {"ok"}
    assert {line["batch_id"] for line in lines} == set(made)
