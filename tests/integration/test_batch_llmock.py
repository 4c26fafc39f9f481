"""Batch mode against llmock (PyPI), which emulates OpenAI's files + batches endpoints.

Its batches end about 3 s after they are created, every line answered. Counted here: the
batches llmock saw created (by the run's tag in their metadata), so a resume that
submitted a batch twice, or paid a prompt twice, fails.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.helpers import ROOT, get_json, read_jsonl, run_cli, runner_argv, runner_env, write_jsonl

N = 30
FAST = ("mode=batch", "batch_poll_s=0.2")


def _experiment(tmp_path: Path, model: str, n: int = N) -> None:
    records = [
        {"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"question {i}",
         "parameters": {"max_tokens": 16}}
        for i in range(n)
    ]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)


def _run_dir(tmp_path: Path) -> Path:
    (run_dir,) = (tmp_path / "outputs" / "exp").iterdir()
    return run_dir


def _batches_of(server: servers.Server, run_id: str) -> list[dict[str, Any]]:
    """The batches llmock holds that this run created (newest first)."""
    page = get_json(f"{server.url}/v1/batches?limit=1000")
    prefix = f"runner-{run_id}-"
    tags = {b["id"]: str((b.get("metadata") or {}).get("runner_tag", "")) for b in page["data"]}
    return [b for b in page["data"] if tags[b["id"]].startswith(prefix)]


def _assert_answered_once(run_dir: Path, batch_ids: set[str], n: int = N) -> None:
    lines = read_jsonl(run_dir / "completed.jsonl")
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)) == n
    assert {line["status"] for line in lines} == {"ok"}
    assert {line["batch_id"] for line in lines} <= batch_ids


def test_batch_mode_happy_path(tmp_path: Path, llmock_server: servers.Server) -> None:
    _experiment(tmp_path, "batch-happy")
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", *FAST)
    assert out.returncode == 0, out.stderr
    run_dir = _run_dir(tmp_path)
    (batch,) = _batches_of(llmock_server, run_dir.name)
    assert batch["status"] == "completed" and batch["request_counts"]["total"] == N
    _assert_answered_once(run_dir, {batch["id"]})
    assert "Batches: 1 submitted, 0 in progress, 1 done; prompts done 30/30" in out.stderr
    events = [json.loads(x)["event"] for x in (run_dir / "batches.jsonl").read_text().splitlines()]
    assert events == ["manifest", "chunk", "uploaded", "submitting", "submitted", "ended", "done"]
    line = read_jsonl(run_dir / "completed.jsonl")[0]
    assert line["usage"]["output_tokens"] and line["response"]


def _start(tmp_path: Path, server: servers.Server) -> subprocess.Popen[str]:
    # A long poll interval: after the submit the run sits polling, where the kill lands.
    argv = runner_argv(tmp_path, "experiment=exp", "mode=batch", "batch_poll_s=60")
    return subprocess.Popen(
        argv, cwd=ROOT, env=runner_env(server.url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _kill_after_submit(
    tmp_path: Path, server: servers.Server, how: signal.Signals = signal.SIGKILL
) -> Path:
    proc = _start(tmp_path, server)
    deadline = time.monotonic() + 60
    while True:
        manifests = list((tmp_path / "outputs").rglob("batches.jsonl"))
        if manifests and '"submitted"' in manifests[0].read_text():
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no batch was submitted"
        time.sleep(0.01)
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=30)
    if how is signal.SIGINT:  # a graceful stop: it says the batch runs on
        assert proc.returncode == 130, stderr
        assert "1 batch(es) still running at the provider" in stderr
    run_dir = _run_dir(tmp_path)
    assert read_jsonl(run_dir / "completed.jsonl") == []  # killed before any result
    return run_dir


def test_kill_9_after_submit_then_resume_reattaches(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    _experiment(tmp_path, "batch-kill")
    run_dir = _kill_after_submit(tmp_path, llmock_server)
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", f"resume={run_dir.name}", *FAST)
    assert out.returncode == 0, out.stderr
    (batch,) = _batches_of(llmock_server, run_dir.name)  # the resume submitted nothing new
    _assert_answered_once(run_dir, {batch["id"]})
    assert {line["attempts"] for line in read_jsonl(run_dir / "completed.jsonl")} == {1}
    assert f"batch {batch['id']} reattached, 30 prompts" in out.stderr


def test_ctrl_c_leaves_the_batch_running_and_resume_collects_it(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    _experiment(tmp_path, "batch-ctrl-c")
    run_dir = _kill_after_submit(tmp_path, llmock_server, signal.SIGINT)
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", "resume=latest", *FAST)
    assert out.returncode == 0, out.stderr
    (batch,) = _batches_of(llmock_server, run_dir.name)
    _assert_answered_once(run_dir, {batch["id"]})


def test_kill_between_submit_and_its_record_finds_the_batch_by_tag(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    _experiment(tmp_path, "batch-kill-tag")
    run_dir = _kill_after_submit(tmp_path, llmock_server)
    # As if the kill came after the create request but before its answer was recorded.
    manifest = run_dir / "batches.jsonl"
    kept = [x for x in manifest.read_text().splitlines() if '"submitted"' not in x]
    manifest.write_text("\n".join(kept) + "\n")
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", f"resume={run_dir.name}", *FAST)
    assert out.returncode == 0, out.stderr
    (batch,) = _batches_of(llmock_server, run_dir.name)
    _assert_answered_once(run_dir, {batch["id"]})


@pytest.fixture
def quota_llmock() -> Iterator[servers.Server]:
    """llmock with a real per-key quota: 120 requests per minute."""
    with servers.llmock("--rpm", "120") as server:
        yield server


def test_llmock_quota_applies_to_batch_calls_and_is_waited_out(
    tmp_path: Path, quota_llmock: servers.Server
) -> None:
    _experiment(tmp_path, "batch-quota", n=10)
    # Polls every 10 ms: the quota answers 429 long before the batch ends.
    out = run_cli(tmp_path, quota_llmock.url, "experiment=exp", "mode=batch", "batch_poll_s=0.01")
    assert out.returncode == 0, out.stderr
    run_dir = _run_dir(tmp_path)
    (batch,) = _batches_of(quota_llmock, run_dir.name)
    _assert_answered_once(run_dir, {batch["id"]}, n=10)
    seen = get_json(f"{quota_llmock.url}/_llmock/requests")["requests"]
    limited = [r for r in seen if r["status"] == 429]
    assert limited and all(r["path"].startswith(("/v1/batches", "/v1/files")) for r in limited)
    verdict = get_json(f"{quota_llmock.url}/_llmock/verdict")
    early = [f for f in verdict.get("findings", []) if "early" in f["code"]]
    assert early == [], verdict
