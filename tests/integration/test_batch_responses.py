"""Batch mode through the Responses API: each line's ``url`` is ``/v1/responses``.

The round trip runs against tests/batch_server.py, which answers a Responses line with the
``response`` object the API reference documents; llmock 0.2.2 takes the upload and creates
the batch, but answers no ``/v1/responses`` line of a batch (each comes back as its
``unsupported_endpoint`` error), so against it the test checks what was sent.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from runner.api import run_experiment
from tests import servers
from tests.batch_server import batch_server
from tests.helpers import get_json, read_jsonl, write_jsonl
from tests.providers_support import unique_model

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
CHAT_SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}


def _experiment(tmp_path: Path, api: str, model: str, n: int = 3) -> None:
    records = [
        {"id": f"p{i}", "api": api, "model_name": model, "prompt": f"q{i}",
         "parameters": {"max_completion_tokens": 50, "response_format": CHAT_SCHEMA,
                        "reasoning_effort": "low"}}
        for i in range(n)
    ]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)


def _run(tmp_path: Path, env: dict[str, str], *overrides: str) -> list[dict[str, Any]]:
    result = run_experiment(
        "exp",
        [f"experiments_dir={tmp_path / 'experiments'}", f"outputs_dir={tmp_path / 'outputs'}",
         "shared_limits=none", "progress=off", "index=false", "mode=batch",
         "batch_poll_s=0.05", "backoff_base_s=0.01", "max_queries=6000", *overrides],
        env=env,
    )  # fmt: skip
    return sorted(read_jsonl(result.run_dir / "completed.jsonl"), key=lambda x: str(x["id"]))


def _assert_responses_lines(uploaded: str, model: str) -> None:
    lines = [json.loads(x) for x in uploaded.splitlines() if x]
    assert len(lines) == 3
    for line in lines:
        body = line["body"]
        assert line["url"] == "/v1/responses" and line["method"] == "POST"
        assert body["model"] == model and body["input"][0]["role"] == "user"
        assert body["max_output_tokens"] == 50 and body["reasoning"] == {"effort": "low"}
        assert body["text"] == {"format": {"type": "json_schema", "name": "x", "schema": SCHEMA}}


@pytest.mark.parametrize("api", ["openai", "azure-openai"])
def test_a_responses_batch_round_trip(tmp_path: Path, api: str) -> None:
    _experiment(tmp_path, api, "dep")
    with batch_server([]) as server:
        env = {
            "OPENAI_API_KEY": "k",
            "OPENAI_BASE_URL": f"{server.url}/v1",
            "AZURE_OPENAI_API_KEY": "azure-key",
            "AZURE_OPENAI_API_ENDPOINT": server.url,
        }
        lines = _run(
            tmp_path, env, "apis.openai.endpoint=responses", "apis.azure_openai.route=responses"
        )
        (batch,) = server.batches
        uploaded = server.files[batch["input_file_id"]]
    assert batch["endpoint"] == "/v1/responses"
    _assert_responses_lines(uploaded, "dep")
    assert [line["parsed"] for line in lines] == [{"a": f"re: q{i}"} for i in range(3)]
    for line in lines:
        assert line["status"] == "ok" and line["batch_id"] == batch["id"]
        usage = line["usage"]
        assert (usage["input_tokens"], usage["output_tokens"]) == (2, 3)
        assert line["finish_reason"] == "stop"


@pytest.mark.integration
def test_a_responses_batch_reaches_llmock_as_responses_lines(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-5-batch")
    _experiment(tmp_path, "openai", model)
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    lines = _run(tmp_path, env, "apis.openai.endpoint=responses")
    batch_id = lines[0]["batch_id"]
    batch = get_json(f"{llmock_server.url}/v1/batches/{batch_id}")
    assert batch["endpoint"] == "/v1/responses"
    with urllib.request.urlopen(
        f"{llmock_server.url}/v1/files/{batch['input_file_id']}/content", timeout=10
    ) as resp:
        _assert_responses_lines(resp.read().decode(), model)
    # llmock 0.2.2 builds no answer for a /v1/responses batch line: each is an item error,
    # recorded on its line like any refused item (nothing retried, nothing lost).
    assert len(lines) == 3
    for line in lines:
        assert line["status"] == "error" and "unsupported_endpoint" in line["error"]
