"""The budget holds in every case (issue 23 item 1, issue 20 item 3), against servers that bill.

Each test names a case that broke the cap: multi-turn prompts, timed-out attempts,
``runner.evaluate`` and ``runner.rephrase``, a sweep, thinking prompts whose reservations
are far above their bills, and estimates that turn out low.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from runner import run_experiment
from runner.cli import compose_settings
from runner.config.setup import CONF_DIR
from runner.evaluate import evaluate
from runner.evaluation.rephrase import rephrase_experiment
from tests import servers
from tests.conftest import ROOT, read_jsonl, runner_env, write_jsonl
from tests.providers_support import llmock_bodies, openai_env, scenario

pytestmark = pytest.mark.integration

# $1 per thousand tokens: a request costs cents, so a cap of a few dollars ends mid-run.
DEAR = "prices={dear-model:{input_per_mtok:1000,output_per_mtok:1000}}"
USD_PER_TOKEN = 0.001


@pytest.fixture
def own_llmock() -> Iterator[servers.Server]:
    """A fresh llmock: its request journal holds this test's requests only."""
    with servers.llmock() as server:
        yield server


def _overrides(tmp_path: Path, *more: str) -> list[str]:
    return [
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"limits_dir={tmp_path / 'limits'}",
        "max_queries=60000",
        "progress=off",
        "index=false",
        "backoff_base_s=0.05",
        *more,
    ]


def _budget(folder: Path) -> dict[str, Any]:
    budget: dict[str, Any] = json.loads((folder / "run.json").read_text())["cost"]["budget"]
    return budget


def test_multi_turn_prompts_count_the_answers_they_send_back(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    # Ten short turns: each later turn sends back every earlier answer, which is most of
    # what a conversation is billed for. Today's estimate left those answers out, so 16
    # conversations in flight took the bill past the cap.
    records = [
        {
            "id": f"c{i}",
            "api": "anthropic",
            "model_name": "dear-model",
            "prompt": ["hi"] * 10,
            "parameters": {"max_tokens": 16},
        }
        for i in range(40)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 12.0
    result = run_experiment(
        "exp",
        _overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "max_concurrency=16"),
        env=runner_env(ANTHROPIC_API_KEY="k", ANTHROPIC_BASE_URL=f"{own_llmock.url}/anthropic"),
    )
    lines = read_jsonl(result.folder.completed)
    ok = [x for x in lines if x["status"] == "ok"]
    spent = sum(x["cost_usd"] for x in ok)
    assert len(ok) >= 2 and spent <= cap
    assert _budget(result.folder.path)["spent_usd"] <= cap
    # Each conversation's turns went out: the bill is what runner priced.
    assert len(llmock_bodies(own_llmock, "dear-model")) == 10 * len(ok)


def test_a_timed_out_attempt_is_charged_its_reservation(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    # llmock answers after 1.5 s, so every attempt times out at 1 s, yet llmock finishes
    # each answer (a provider bills it). Today such attempts count $0 and the cap never ends.
    scenario(own_llmock, {"type": "delay", "seconds": 1.5, "times": 1000})
    records = [
        {
            "id": f"t{i}",
            "api": "openai",
            "model_name": "dear-model",
            "prompt": "hello",
            "parameters": {"max_tokens": 40},
        }
        for i in range(30)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 1.0
    result = run_experiment(
        "exp",
        _overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "timeout_s=1", "max_attempts=2"),
        env=openai_env(own_llmock),
    )
    budget = _budget(result.folder.path)
    sent = len(llmock_bodies(own_llmock, "dear-model"))
    assert 0 < budget["spent_usd"] <= cap  # today: $0, and every prompt sent twice
    assert budget["exhausted"] and budget["charged_unanswered"] == sent
    # Each attempt held at least what llmock bills for its answer (~20 tokens).
    assert budget["spent_usd"] >= sent * 20 * USD_PER_TOKEN
    assert sent < 30


def _dear_conf(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "dear_model.yaml").write_text(
        "api: openai\nmodel_name: dear-model\nparameters: {max_tokens: 40}\n"
        "price: {input_per_mtok: 1000, output_per_mtok: 1000}\n"
    )
    (conf / "evaluation" / "dear.yaml").write_text(
        "defaults:\n  - /model@grade.model_config: dear_model\n"
        "grade:\n  scorer: judge\n"
        '  template: "Rate 1-5: {OUTPUT_RESPONSE}"\n  max_queries: 60000\n'
    )
    (conf / "rephrase" / "dear.yaml").write_text(
        "defaults:\n  - /model@model_config: dear_model\n"
        'templates:\n  formal: "Rewrite formally: {INPUT_PROMPT}"\n'
        '  simple: "Rewrite simply: {INPUT_PROMPT}"\nmax_queries: 60000\n'
    )
    return conf


def test_runner_evaluate_honours_the_cap(
    tmp_path: Path, own_llmock: servers.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = _dear_conf(tmp_path)
    records = [
        {"id": f"e{i}", "api": "openai", "model_name": "cheap-model", "prompt": f"q{i}"}
        for i in range(40)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    env = openai_env(own_llmock)
    first = run_experiment("exp", _overrides(tmp_path), env=env)
    assert first.exit_code == 0
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cap = 0.5
    report = evaluate(
        [
            f"run={first.folder.path}",
            "evaluation=dear",
            f"max_cost_usd={cap}",
            *_overrides(tmp_path),
        ],
        env=env,
        conf_dir=conf,
    )
    judged = len(llmock_bodies(own_llmock, "dear-model"))
    assert 0 < judged < 40  # today: all 40 (the cap ignored)
    assert 0 < report.spent_usd <= cap
    assert report.budget_reached and report.exit_code == 1
    assert "max_cost_usd=$0.5000" in report.budget


def test_runner_rephrase_honours_the_cap(tmp_path: Path, own_llmock: servers.Server) -> None:
    conf = _dear_conf(tmp_path)
    records = [{"id": f"r{i}", "prompt": f"question {i}"} for i in range(30)]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 0.5
    settings = compose_settings(
        ["experiment=exp", "rephrase=dear", f"max_cost_usd={cap}", *_overrides(tmp_path)], conf
    )
    result = rephrase_experiment(settings, env=openai_env(own_llmock))
    sent = len(llmock_bodies(own_llmock, "dear-model"))
    assert 0 < sent < 60 and result.failed == 60 - sent  # today: all 60
    assert 0 < result.spent_usd <= cap
    assert "max_cost_usd=$0.5000" in result.budget


def test_the_jobs_of_a_sweep_share_the_cap(tmp_path: Path, own_llmock: servers.Server) -> None:
    records = [
        {
            "id": f"s{i}",
            "api": "openai",
            "model_name": "dear-model",
            "prompt": "hello",
            "parameters": {"max_tokens": 40},
        }
        for i in range(40)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 0.6  # one job alone spends $0.40
    import subprocess

    done = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "runner",
            "-m",
            "experiment=exp",
            "max_concurrency=4,8",
            f"max_cost_usd={cap}",
            DEAR,
            *_overrides(tmp_path),
        ],
        cwd=ROOT,
        env=runner_env(own_llmock.url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    folders = sorted(p.parent for p in (tmp_path / "outputs" / "exp").glob("*/run.json"))
    assert len(folders) == 2
    spent = [_budget(f)["spent_usd"] for f in folders]
    assert sum(spent) <= cap  # today each job spends up to the whole cap
    assert done.returncode == 1, done.stderr
    (ledger,) = (tmp_path / "outputs" / ".sweeps").glob("*/budget.json")
    assert json.loads(ledger.read_text())["spent_usd"] == pytest.approx(sum(spent), abs=1e-6)


# -- thinking prompts against a server answering Anthropic's documented thinking body ------


@dataclass
class ThinkingServer:
    url: str = ""
    billed_usd: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)


def _thinking_message(model: str) -> dict[str, Any]:
    """A Messages API answer with extended thinking, as documented at
    https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking
    (a ``thinking`` block with its ``signature``, then the ``text`` block; the thinking
    tokens are billed as output tokens and counted in ``usage.output_tokens``)."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            {
                "type": "thinking",
                "thinking": "Let me analyze this step by step...",
                "signature": "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG",
            },
            {"type": "text", "text": "Based on my analysis..."},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 40, "output_tokens": 700},
    }


@contextmanager
def thinking_server() -> Iterator[ThinkingServer]:
    state = ThinkingServer()

    async def messages(request: web.Request) -> web.Response:
        body = await request.json()
        state.requests.append(body)
        answer = _thinking_message(body.get("model", ""))
        usage = answer["usage"]
        state.billed_usd += (usage["input_tokens"] + usage["output_tokens"]) * USD_PER_TOKEN
        await asyncio.sleep(0.05)
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_thinking_prompts_stop_at_the_cap_priced_from_the_full_usage(tmp_path: Path) -> None:
    # Each answer bills 740 tokens ($0.74) against a bound of 1000 output tokens (thinking
    # included): a cap of $6.80 pays for nine answers. Reserving every prompt's bound at
    # once stopped after the first few; waiting for the answers in flight sends eight.
    records = [
        {
            "id": f"k{i}",
            "api": "anthropic",
            "model_name": "claude-think",
            "prompt": "Prove that there are infinitely many primes.",
            "parameters": {
                "max_tokens": 1000,
                "thinking": {"type": "enabled", "budget_tokens": 800},
            },
        }
        for i in range(30)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 6.80
    with thinking_server() as server:
        env = runner_env(ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=server.url)
        result = run_experiment(
            "exp",
            _overrides(
                tmp_path,
                "prices={claude-think:{input_per_mtok:1000,output_per_mtok:1000}}",
                f"max_cost_usd={cap}",
            ),
            env=env,
        )
    lines = read_jsonl(result.folder.completed)
    ok = [x for x in lines if x["status"] == "ok"]
    assert server.billed_usd <= cap
    assert len(ok) == len(server.requests) >= 8
    assert sum(x["cost_usd"] for x in ok) == pytest.approx(server.billed_usd)
    assert _budget(result.folder.path)["exhausted"]


# -- the property test again, against a server that bills -----------------------------------


@dataclass
class BillingServer:
    """An OpenAI-style server that keeps the bill: answers, and timed-out answers it finished."""

    rng: Any
    url: str = ""
    bill: float = 0.0
    ratio: dict[bool, float] = field(default_factory=dict)  # billed/estimated input, per shape


async def _bill_chat(state: BillingServer, request: web.Request) -> web.Response:
    raw = await request.read()
    body = json.loads(raw)
    rng = state.rng
    # OpenAI's rule estimates the body's characters / 4; the model bills its own count.
    tools = "tools" in body
    tokens_in = round(len(raw) / 4 * state.ratio[tools] * rng.uniform(0.92, 1.08))
    tokens_out = rng.randint(1, int(body.get("max_tokens") or 16))
    cost = (tokens_in + tokens_out) * USD_PER_TOKEN
    roll = rng.random()
    if roll < 0.15:  # slower than timeout_s: the client gives up, the model finishes
        if rng.random() < 0.7:
            state.bill += cost
        await asyncio.sleep(1.3)
    elif roll < 0.2:
        return web.json_response({"error": {"message": "slow down"}}, status=429)
    else:
        state.bill += cost
        await asyncio.sleep(rng.uniform(0.02, 0.3))
    return web.json_response(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        }
    )


@contextmanager
def billing_server(seed: int) -> Iterator[BillingServer]:
    import random

    rng = random.Random(seed)
    state = BillingServer(rng, ratio={False: rng.uniform(0.3, 3.0), True: rng.uniform(0.3, 3.0)})

    async def chat(request: web.Request) -> web.Response:
        return await _bill_chat(state, request)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_the_bill_of_a_billing_server_never_exceeds_the_cap(tmp_path: Path, seed: int) -> None:
    import random

    rng = random.Random(seed)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    records = []
    for i in range(30):
        params: dict[str, Any] = {"max_tokens": rng.choice([16, 64, 256])}
        if rng.random() < 0.3:
            params["tools"] = [tool]
        text = "word " * rng.randint(5, 200)
        records.append(
            {"id": f"p{i}", "api": "openai", "model_name": "dear-model"}
            | {"prompt": text, "parameters": params}
        )
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = rng.uniform(1.0, 4.0)
    with billing_server(seed) as server:
        result = run_experiment(
            "exp",
            _overrides(
                tmp_path,
                DEAR,
                f"max_cost_usd={cap}",
                f"max_concurrency={rng.choice([4, 16])}",
                f"max_attempts={rng.randint(1, 3)}",
                "timeout_s=1",
            ),
            env=runner_env(server.url),
        )
        bill = server.bill
    budget = _budget(result.folder.path)
    assert bill <= cap, f"seed {seed}: billed {bill:.4f} over the cap {cap:.4f}"
    assert budget["spent_usd"] >= bill - 1e-6  # runner never counts less than the bill
    assert budget["spent_usd"] <= cap
    assert len(read_jsonl(result.folder.completed)) == 30


def test_a_cap_below_a_batch_chunk_sends_what_fits(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    # 30 prompts in one chunk, a cap for about ten of them: today the chunk is refused whole.
    records = [
        {
            "id": f"b{i}",
            "api": "openai",
            "model_name": "dear-model",
            "prompt": f"question {i}",
            "parameters": {"max_tokens": 16},
        }
        for i in range(30)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 0.6  # a prompt reserves about $0.05 at batch price before any bill
    result = run_experiment(
        "exp",
        _overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "mode=batch", "batch_poll_s=0.2"),
        env=openai_env(own_llmock),
    )
    lines = read_jsonl(result.folder.completed)
    ok = [x for x in lines if x["status"] == "ok"]
    over = [x for x in lines if x["error_kind"] == "budget"]
    assert ok and over and len(ok) + len(over) == 30
    assert all(x["batch_id"] for x in ok)
    assert sum(x["cost_usd"] for x in ok) <= cap
    assert _budget(result.folder.path)["spent_usd"] <= cap
