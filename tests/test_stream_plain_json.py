"""Issue 10.11: ``stream: true`` answered with one plain JSON body is the answer, not a drop.

No third-party test server here ignores ``stream`` (llmock, aimock and llama.cpp all honour
it), so a small aiohttp server (tests/plain_server.py) answers as such servers do, over
real HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from tests.conftest import read_jsonl, write_jsonl
from tests.plain_server import PlainServer, plain_server

pytestmark = pytest.mark.integration


def _run(tmp_path: Path, server: PlainServer, api: str) -> dict[str, Any]:
    write_jsonl(
        tmp_path / "experiments" / "s.jsonl",
        [{"id": "a", "api": api, "model_name": "m", "prompt": "hello",
          "parameters": {"stream": True, "max_tokens": 10}}],
    )  # fmt: skip
    env = {
        "OPENAI_API_KEY": "k",
        "OPENAI_BASE_URL": f"{server.url}/v1",
        "ANTHROPIC_API_KEY": "k",
        "ANTHROPIC_BASE_URL": f"{server.url}/anthropic",
    }
    result = run_experiment(
        "s",
        [f"experiments_dir={tmp_path / 'experiments'}", f"outputs_dir={tmp_path / 'outputs'}",
         "max_queries=6000", "backoff_base_s=0.01", "max_attempts=3", "index=false"],
        env=env,
    )  # fmt: skip
    (line,) = read_jsonl(result.folder.completed)
    return line


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_plain_json_answer_to_a_streamed_request_is_the_answer(tmp_path: Path, api: str) -> None:
    with plain_server() as server:
        line = _run(tmp_path, server, api)
    assert server.requests[0]["stream"] is True  # it was asked to stream, and did not
    assert line["status"] == "ok", line["error"]
    assert line["response"] == "a whole answer"
    assert line["attempts"] == 1 and len(server.requests) == 1  # not retried as a drop
    assert line["usage"] == {"input_tokens": 3, "output_tokens": 3}
