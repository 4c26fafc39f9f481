"""The engine over real HTTP against llmock (PyPI): retries, Retry-After, timeouts, 400s."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from tests import servers
from tests.helpers import get_json, post_json, read_jsonl, write_jsonl

pytestmark = pytest.mark.integration


def _model() -> str:
    return f"gpt-test-{uuid.uuid4().hex[:8]}"


def _scenario(server: servers.Server, *behaviors: dict[str, Any]) -> None:
    post_json(f"{server.url}/_llmock/scenario", {"behaviors": list(behaviors)})


def _run(
    tmp_path: Path, server: servers.Server, records: list[dict[str, Any]], *overrides: str
) -> tuple[list[dict[str, Any]], int]:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    result = run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            "max_queries=6000",
            "backoff_base_s=0.05",
            "index=false",
            *overrides,
        ],
        env={"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{server.url}/v1"},
    )
    return read_jsonl(result.folder.completed), result.exit_code


def _prompt(model: str, i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"hello {i}", **extra}


@pytest.fixture
def own_llmock() -> Iterator[servers.Server]:
    """A fresh llmock, so its retry verdict speaks of this test's calls only."""
    with servers.llmock() as server:
        yield server


def test_429_with_retry_after_is_waited_out(tmp_path: Path, own_llmock: servers.Server) -> None:
    model = _model()
    _scenario(
        own_llmock,
        {"type": "fail", "status": 429, "retry_after": 2, "times": 1, "match": {"model": model}},
    )
    started = time.monotonic()
    lines, code = _run(tmp_path, own_llmock, [_prompt(model)])
    assert time.monotonic() - started >= 2.0
    assert code == 0
    assert lines[0]["status"] == "ok" and lines[0]["attempts"] == 2
    verdict = get_json(f"{own_llmock.url}/_llmock/verdict")
    assert verdict["passed"], verdict["findings"]


def test_503_is_retried_and_others_keep_flowing(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = _model()
    _scenario(llmock_server, {"type": "fail", "status": 503, "times": 2, "match": {"model": model}})
    records = [_prompt(model, i) for i in range(5)]
    lines, code = _run(tmp_path, llmock_server, records, "max_attempts=4")
    assert code == 0
    assert {line["status"] for line in lines} == {"ok"}
    assert sum(line["attempts"] for line in lines) == 5 + 2
    assert lines[0]["usage"]["output_tokens"] > 0
    assert lines[0]["response"]


def test_delay_past_timeout_is_retried_then_recorded(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = _model()
    _scenario(
        llmock_server, {"type": "delay", "seconds": 1.5, "times": 2, "match": {"model": model}}
    )
    lines, code = _run(tmp_path, llmock_server, [_prompt(model)], "timeout_s=0.4", "max_attempts=2")
    assert code == 1
    assert lines[0]["status"] == "error"
    assert lines[0]["attempts"] == 2
    assert "timed out" in lines[0]["error"]
    assert lines[0]["response"] is None


def test_400_is_recorded_once_without_retry(tmp_path: Path, llmock_server: servers.Server) -> None:
    model = _model()
    _scenario(llmock_server, {"type": "fail", "status": 400, "times": 1, "match": {"model": model}})
    records = [_prompt(model, 0), _prompt(_model(), 1)]
    lines, code = _run(tmp_path, llmock_server, records, "max_attempts=5")
    assert code == 1
    by_id = {line["id"]: line for line in lines}
    assert by_id["p0"]["status"] == "error" and by_id["p0"]["attempts"] == 1
    assert by_id["p0"]["error"].startswith("HTTP 400")
    assert by_id["p1"]["status"] == "ok"


def test_all_prompt_forms_and_parameters(tmp_path: Path, llmock_server: servers.Server) -> None:
    model = _model()
    records = [
        _prompt(model, 0, parameters={"temperature": 0.2, "max_tokens": 20}),
        {**_prompt(model, 1), "prompt": ["first turn", "second turn"]},
        {
            **_prompt(model, 2),
            "prompt": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
            ],
        },
    ]
    lines, code = _run(tmp_path, llmock_server, records)
    assert code == 0
    by_id = {line["id"]: line for line in lines}
    assert isinstance(by_id["p1"]["response"], list) and len(by_id["p1"]["response"]) == 2
    assert by_id["p0"]["parameters"] == {"temperature": 0.2, "max_tokens": 20}
    assert by_id["p2"]["response_model"] == model
