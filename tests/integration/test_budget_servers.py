"""The budget against in-test servers that bill (issue 23 item 1, issue 20 item 3).

Thinking prompts answered with Anthropic's documented extended-thinking body, and the
budget's property test again: a server that bills every answer (and the timed-out answers
it finished) with random latencies, 429s and input billed off the estimate per shape.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from runner import run_experiment
from tests.budget_support import DEAR, USD_PER_TOKEN, budget_of, overrides, serve
from tests.helpers import read_jsonl, runner_env, write_jsonl

pytestmark = pytest.mark.integration


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
    with serve(app) as url:
        state.url = url
        yield state


def test_thinking_prompts_stop_at_the_cap_priced_from_the_full_usage(tmp_path: Path) -> None:
    # Each answer bills 740 tokens ($0.74) against a bound of 1100 output tokens (thinking
    # included): a cap of $6.80 pays for nine answers. Reserving every prompt's bound at
    # once stopped after the first few; waiting for the answers in flight sends eight.
    records = [
        {
            "id": f"k{i}",
            "api": "anthropic",
            "model_name": "claude-think",
            "prompt": "Prove that there are infinitely many primes.",
            "parameters": {
                "max_tokens": 1100,  # Anthropic: budget_tokens >= 1024 and < max_tokens
                "thinking": {"type": "enabled", "budget_tokens": 1024},
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
            overrides(
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
    assert budget_of(result.folder.path)["exhausted"]


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

    rng = random.Random(seed)
    state = BillingServer(rng, ratio={False: rng.uniform(0.3, 3.0), True: rng.uniform(0.3, 3.0)})

    async def chat(request: web.Request) -> web.Response:
        return await _bill_chat(state, request)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    with serve(app) as url:
        state.url = url
        yield state


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_the_bill_of_a_billing_server_never_exceeds_the_cap(tmp_path: Path, seed: int) -> None:

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
            overrides(
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
    budget = budget_of(result.folder.path)
    assert bill <= cap, f"seed {seed}: billed {bill:.4f} over the cap {cap:.4f}"
    assert budget["spent_usd"] >= bill - 1e-6  # runner never counts less than the bill
    assert budget["spent_usd"] <= cap
    assert len(read_jsonl(result.folder.completed)) == 30
