"""mode=batch end to end for anthropic and gemini against llmock: a whole run, and kill -9
then resume (a batch is never created twice, even when the kill lost its id)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.api import run_experiment
from tests import servers
from tests.helpers import ROOT, get_json, post_json, read_jsonl, runner_argv, write_jsonl
from tests.providers_support import PROVIDER_ENV_PREFIXES

pytestmark = pytest.mark.integration

N = 12
APIS = {
    # api: (base URL under llmock, the path of a batch create, of an online request)
    "anthropic": ("/anthropic", "/anthropic/v1/messages/batches", "/anthropic/v1/messages"),
    "gemini": ("/gemini/v1beta", ":batchGenerateContent", ":generateContent"),
}
BATCH_SETTINGS = ("mode=batch", "batch_poll_s=0.2", "backoff_base_s=0.05", "max_queries=6000")


@pytest.fixture(scope="module")
def batch_llmock() -> Iterator[servers.Server]:
    """An llmock of this module's own, so its journal counts only these runs' batches."""
    with servers.llmock() as server:
        yield server


def _env(api: str, server: servers.Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_ENV_PREFIXES)}
    prefix = api.upper()
    env.update({f"{prefix}_API_KEY": "test-key", f"{prefix}_BASE_URL": server.url + APIS[api][0]})
    return env


def _experiment(tmp_path: Path, api: str, model: str) -> None:
    records = [
        {"id": f"p{i}", "api": api, "model_name": model, "prompt": f"question {i}"}
        for i in range(N)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)


def _posts(server: servers.Server, model: str, path_end: str) -> int:
    """How many POSTs for ``model`` to a path ending in ``path_end`` llmock answered 200."""
    journal = get_json(f"{server.url}/_llmock/requests")["requests"]
    return sum(
        1
        for r in journal
        if r["method"] == "POST"
        and r["status"] == 200
        and str(r["path"]).endswith(path_end)
        and (model in str(r["path"]) or model in json.dumps(r.get("body")))
    )


def _created(server: servers.Server, api: str, model: str) -> int:
    return _posts(server, model, APIS[api][1])


def _online(server: servers.Server, api: str, model: str) -> int:
    return _posts(server, model, APIS[api][2])


def _assert_all_once(run_dir: Path) -> list[dict[str, object]]:
    lines = read_jsonl(run_dir / "completed.jsonl")
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)) == N, ids
    assert {line["status"] for line in lines} == {"ok"}
    assert all(line["batch_id"] and line["response"] for line in lines)
    return lines


@pytest.mark.parametrize("api", sorted(APIS))
def test_a_batch_run_answers_every_prompt_through_one_batch(
    tmp_path: Path, batch_llmock: servers.Server, api: str
) -> None:
    model = f"{api}-whole-run"
    _experiment(tmp_path, api, model)
    result = run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            "shared_limits=none",
            "progress=off",
            "index=false",
            *BATCH_SETTINGS,
        ],
        env=_env(api, batch_llmock),
    )
    lines = _assert_all_once(result.run_dir)
    assert len({line["batch_id"] for line in lines}) == 1
    assert _created(batch_llmock, api, model) == 1  # one batch for the 12 prompts
    assert _online(batch_llmock, api, model) == 0  # nothing went online


def _start(tmp_path: Path, api: str, server: servers.Server) -> subprocess.Popen[str]:
    return subprocess.Popen(
        runner_argv(tmp_path, "experiment=exp", *BATCH_SETTINGS),
        cwd=ROOT,
        env=_env(api, server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _manifest_events(run_dir: Path) -> list[dict[str, object]]:
    path = run_dir / "batches.jsonl"
    return read_jsonl(path) if path.exists() else []


def _killed_after_submit(tmp_path: Path, api: str, server: servers.Server) -> Path:
    """Start a batch run and kill -9 it once its batch is submitted; its run folder."""
    proc = _start(tmp_path, api, server)
    deadline = time.monotonic() + 60
    run_dir: Path | None = None
    while True:
        assert time.monotonic() < deadline, "the run never submitted its batch"
        assert proc.poll() is None, proc.communicate()
        dirs = list((tmp_path / "outputs" / "exp").glob("*"))
        run_dir = dirs[0] if dirs else None
        if run_dir and any(e.get("event") == "submitted" for e in _manifest_events(run_dir)):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    return run_dir


def _resume(tmp_path: Path, api: str, server: servers.Server, run_dir: Path) -> None:
    out = subprocess.run(
        runner_argv(tmp_path, "experiment=exp", f"resume={run_dir.name}", *BATCH_SETTINGS),
        cwd=ROOT,
        env=_env(api, server),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.parametrize("lose_the_id", [False, True], ids=["id-kept", "id-lost"])
@pytest.mark.parametrize("api", sorted(APIS))
def test_kill_9_then_resume_reattaches_and_never_submits_twice(
    tmp_path: Path, batch_llmock: servers.Server, api: str, lose_the_id: bool
) -> None:
    model = f"{api}-kill-{'lost' if lose_the_id else 'kept'}"
    _experiment(tmp_path, api, model)
    run_dir = _killed_after_submit(tmp_path, api, batch_llmock)
    assert _created(batch_llmock, api, model) == 1
    if lose_the_id:
        # As if the kill came after the API made the batch but before its id was written:
        # the resume must find the batch by its tag (Anthropic: the custom_id marker).
        manifest = run_dir / "batches.jsonl"
        kept = [e for e in read_jsonl(manifest) if e.get("event") != "submitted"]
        manifest.write_text("".join(json.dumps(e) + "\n" for e in kept))
    _resume(tmp_path, api, batch_llmock, run_dir)
    lines = _assert_all_once(run_dir)
    submitted = [e["batch_id"] for e in _manifest_events(run_dir) if e["event"] == "submitted"]
    assert submitted == [lines[0]["batch_id"]]  # found by its tag when the id was lost
    assert _created(batch_llmock, api, model) == 1  # reattached: no second batch
    assert len({line["batch_id"] for line in lines}) == 1
    assert _online(batch_llmock, api, model) == 0


@pytest.mark.parametrize("api", sorted(APIS))
def test_a_create_refused_with_429_waits_retry_after_and_makes_one_batch(
    tmp_path: Path, batch_llmock: servers.Server, api: str
) -> None:
    model = f"{api}-quota"
    _experiment(tmp_path, api, model)
    fault = {"type": "fail", "status": 429, "retry_after": 1, "times": 1}
    post_json(
        f"{batch_llmock.url}/_llmock/scenario",
        {"behaviors": [{**fault, "match": {"provider": api}}]},
    )
    started = time.monotonic()
    result = run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            "shared_limits=none",
            "progress=off",
            "index=false",
            *BATCH_SETTINGS,
        ],
        env=_env(api, batch_llmock),
    )
    _assert_all_once(result.run_dir)
    assert _created(batch_llmock, api, model) == 1
    assert time.monotonic() - started >= 1.0  # the retry waited for retry-after
    journal = get_json(f"{batch_llmock.url}/_llmock/requests")["requests"]
    refused = [
        r
        for r in journal
        if r["status"] == 429 and r["method"] == "POST" and str(r["path"]).endswith(APIS[api][1])
    ]
    assert refused, "the scripted 429 never reached the batch create"
