"""Streamed answers over real HTTP (llmock): assembled whole, and retried when cut."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.helpers import post_json
from tests.providers_support import run_one_streamed

pytestmark = pytest.mark.integration


def _fault(server: servers.Server, model: str, fault: dict[str, Any]) -> None:
    behavior = {"type": "stream_fault", "times": 1, "match": {"model": model, "stream": True}}
    post_json(f"{server.url}/_llmock/scenario", {"behaviors": [{**behavior, **fault}]})


def test_a_streamed_answer_is_assembled_with_its_usage(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    line = run_one_streamed(tmp_path, llmock_server.url, f"gpt-stream-{uuid.uuid4().hex[:6]}")
    assert line["status"] == "ok" and line["attempts"] == 1
    assert "gpt-stream-" in line["response"]  # the model named in its own answer
    assert line["finish_reason"] == "stop"
    assert line["usage"]["output_tokens"] > 0


def test_a_stream_cut_mid_answer_is_retried(tmp_path: Path, llmock_server: servers.Server) -> None:
    model = f"gpt-stream-{uuid.uuid4().hex[:6]}"
    _fault(llmock_server, model, {"kind": "disconnect", "after_chunks": 2})
    line = run_one_streamed(tmp_path, llmock_server.url, model)
    assert line["status"] == "ok" and line["attempts"] == 2
    assert "gpt-stream-" in line["response"]  # the whole answer: the cut one stops early


def test_a_stalled_stream_times_out_and_is_retried(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = f"gpt-stream-{uuid.uuid4().hex[:6]}"
    _fault(llmock_server, model, {"kind": "stall", "stall_seconds": 3})
    line = run_one_streamed(tmp_path, llmock_server.url, model, "timeout_s=1")
    assert line["status"] == "ok" and line["attempts"] == 2


def test_anthropic_stream_cut_mid_answer_is_retried(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = f"claude-stream-{uuid.uuid4().hex[:6]}"
    _fault(llmock_server, model, {"kind": "disconnect", "after_chunks": 2})
    line = run_one_streamed(tmp_path, llmock_server.url, model, api="anthropic")
    assert line["status"] == "ok" and line["attempts"] == 2
    assert line["finish_reason"] == "end_turn"
    assert line["usage"]["output_tokens"] > 0 and line["response"]
