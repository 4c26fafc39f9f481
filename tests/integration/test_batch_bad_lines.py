"""A bad line in a batch's results costs that one prompt, not the run.

Each case replaces the result of the second prompt with a line of another shape (played by
the in-test batch server, tests/batch_server.py and tests/batch_server_apis.py, which
answer the documented shapes otherwise: https://platform.openai.com/docs/api-reference/batch,
https://docs.anthropic.com/en/api/retrieving-message-batch-results,
https://ai.google.dev/api/batch-mode). The run completes, that prompt is recorded as an
error naming what was wrong (or, for a line that names no prompt of the batch, is sent
again), every other prompt normally, and a resume of the run works.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.api import run_experiment
from tests.batch_server import batch_server
from tests.batch_support import BATCH_MODELS, batch_env
from tests.helpers import read_jsonl, write_jsonl

N = 4


SETTINGS = ("mode=batch", "batch_poll_s=0.05", "backoff_base_s=0.01", "shared_limits=none")


_OPENAI_OK = {"status_code": 200, "body": {
    "object": "chat.completion", "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": -5000, "completion_tokens": "many"},
}}  # fmt: skip


_ANTHROPIC_OK = {"type": "succeeded", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest",
    "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
    "usage": {"input_tokens": -5000, "output_tokens": 1.5},
}}  # fmt: skip


_GEMINI_OK = {
    "candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": -5000, "candidatesTokenCount": True},
}


NOT_JSON = '{"custom_id": "{cid}", "response": {"status_code": 200, "bo'


# (api, case, the line, what the prompt's error says; None: the prompt ends ok).
CASES: list[tuple[str, str, Any, str | None]] = [
    ("openai", "error-is-text", {"custom_id": "{cid}", "error": "boom"}, "boom"),
    ("openai", "response-is-text", {"custom_id": "{cid}", "response": "garbage"},
     "response is not an object"),
    ("openai", "status-is-text", {"custom_id": "{cid}", "response": {"status_code": "abc"}},
     "status_code 'abc' is not a number"),
    ("openai", "no-body", {"custom_id": "{cid}", "response": {"status_code": 200}},
     "no body object"),
    ("openai", "not-json", NOT_JSON, "not JSON"),
    ("openai", "unknown-id", {"custom_id": "nope", "response": _OPENAI_OK}, None),
    ("openai", "bad-usage", {"custom_id": "{cid}", "response": _OPENAI_OK}, None),
    ("anthropic", "result-is-text", {"custom_id": "{cid}", "result": "garbage"},
     "result is not an object"),
    ("anthropic", "message-is-text",
     {"custom_id": "{cid}", "result": {"type": "succeeded", "message": "garbage"}},
     "message is not an object"),
    ("anthropic", "not-json", '{"custom_id": "{cid}", "result": {"type": "succ', "not JSON"),
    ("anthropic", "unknown-id", {"custom_id": "nope", "result": _ANTHROPIC_OK}, None),
    ("anthropic", "bad-usage", {"custom_id": "{cid}", "result": _ANTHROPIC_OK}, None),
    ("gemini", "error-is-text", {"error": "boom", "metadata": {"key": "{cid}"}}, "boom"),
    ("gemini", "response-is-text", {"response": "garbage", "metadata": {"key": "{cid}"}},
     "response is not an object"),
    ("gemini", "code-is-text",
     {"error": {"code": "abc", "message": "x"}, "metadata": {"key": "{cid}"}},
     "error code 'abc' is not a number"),
    ("gemini", "not-an-object", '"garbage"', "not an object"),
    ("gemini", "unknown-key", {"response": _GEMINI_OK, "metadata": {"key": "nope"}}, None),
    ("gemini", "bad-usage", {"response": _GEMINI_OK, "metadata": {"key": "{cid}"}}, None),
]  # fmt: skip


def _run(tmp_path: Path, api: str, url: str, *extra: str) -> Path:
    result = run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            "progress=off",
            "index=false",
            *SETTINGS,
            *extra,
        ],
        env=batch_env(api, url),
    )
    return result.run_dir


@pytest.mark.parametrize(
    ("api", "line", "says"),
    [pytest.param(api, line, says, id=f"{api}-{case}") for api, case, line, says in CASES],
)
def test_a_bad_result_line_costs_that_prompt_alone(
    tmp_path: Path, api: str, line: Any, says: str | None
) -> None:
    records = [
        {"id": f"p{i}", "api": api, "model_name": BATCH_MODELS[api], "prompt": f"question {i}"}
        for i in range(N)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with batch_server([]) as server:
        server.bad_lines[1] = line if isinstance(line, str) else json.dumps(line)
        run_dir = _run(tmp_path, api, server.url)
        lines = {x["id"]: x for x in read_jsonl(run_dir / "completed.jsonl")}
        assert sorted(lines) == [f"p{i}" for i in range(N)]  # each prompt once
        server.bad_lines.clear()
        made = len(server.batches)
        _run(tmp_path, api, server.url, f"resume={run_dir.name}")  # the error is sent again
        assert len(server.batches) == made + (says is not None)
        after = read_jsonl(run_dir / "completed.jsonl")
    bad = lines.pop("p1")
    assert {x["status"] for x in lines.values()} == {"ok"}
    if says is None:  # no line of another shape for p1's prompt: it ended ok
        assert bad["status"] == "ok", bad
    else:
        assert bad["status"] == "error" and says in str(bad["error"]), bad
        assert bad["attempts"] == 1  # the provider ran it: not sent (and paid) again
    for x in [*lines.values(), bad]:  # a count that is not one is never priced
        assert x["cost_usd"] is None or x["cost_usd"] >= 0, x
        assert all(v is None or v >= 0 for v in (x.get("usage") or {}).values()), x
    assert sorted(x["id"] for x in after) == [f"p{i}" for i in range(N)]
    assert {x["status"] for x in after} == {"ok"}
