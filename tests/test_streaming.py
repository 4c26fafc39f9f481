"""Streamed answers over real HTTP (llmock): assembled whole, and retried when cut."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from tests import servers
from tests.conftest import post_json, read_jsonl, write_jsonl

pytestmark = pytest.mark.integration


def _run(
    tmp_path: Path, server: servers.Server, model: str, *overrides: str, api: str = "openai"
) -> dict[str, Any]:
    """One streamed prompt through ``api`` on llmock; its result line."""
    write_jsonl(
        tmp_path / "experiments" / "s.jsonl",
        [{"id": "a", "api": api, "model_name": model, "prompt": "hello there",
          "parameters": {"stream": True, "max_tokens": 30}}],
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
         "max_queries=6000", "backoff_base_s=0.05", "index=false", *overrides],
        env=env,
    )  # fmt: skip
    (line,) = read_jsonl(result.folder.completed)
    return line


def _fault(server: servers.Server, model: str, fault: dict[str, Any]) -> None:
    behavior = {"type": "stream_fault", "times": 1, "match": {"model": model, "stream": True}}
    post_json(f"{server.url}/_llmock/scenario", {"behaviors": [{**behavior, **fault}]})


def test_a_streamed_answer_is_assembled_with_its_usage(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    line = _run(tmp_path, llmock_server, f"gpt-stream-{uuid.uuid4().hex[:6]}")
    assert line["status"] == "ok" and line["attempts"] == 1
    assert "gpt-stream-" in line["response"]  # the model named in its own answer
    assert line["finish_reason"] == "stop"
    assert line["usage"]["output_tokens"] > 0


def test_a_stream_cut_mid_answer_is_retried(tmp_path: Path, llmock_server: servers.Server) -> None:
    model = f"gpt-stream-{uuid.uuid4().hex[:6]}"
    _fault(llmock_server, model, {"kind": "disconnect", "after_chunks": 2})
    line = _run(tmp_path, llmock_server, model)
    assert line["status"] == "ok" and line["attempts"] == 2
    assert "gpt-stream-" in line["response"]  # the whole answer: the cut one stops early


def test_a_stalled_stream_times_out_and_is_retried(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = f"gpt-stream-{uuid.uuid4().hex[:6]}"
    _fault(llmock_server, model, {"kind": "stall", "stall_seconds": 3})
    line = _run(tmp_path, llmock_server, model, "timeout_s=1")
    assert line["status"] == "ok" and line["attempts"] == 2


def test_anthropic_stream_cut_mid_answer_is_retried(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = f"claude-stream-{uuid.uuid4().hex[:6]}"
    _fault(llmock_server, model, {"kind": "disconnect", "after_chunks": 2})
    line = _run(tmp_path, llmock_server, model, api="anthropic")
    assert line["status"] == "ok" and line["attempts"] == 2
    assert line["finish_reason"] == "end_turn"
    assert line["usage"]["output_tokens"] > 0 and line["response"]
