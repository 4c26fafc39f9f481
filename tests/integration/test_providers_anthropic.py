"""api: anthropic over real HTTP against llmock's Anthropic Messages route."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.providers_support import (
    PNG_B64,
    by_id,
    llmock_bodies,
    run_records,
    scenario,
    unique_model,
    write_media,
)

pytestmark = pytest.mark.integration


def _env(server: servers.Server) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": f"{server.url}/anthropic"}


def _record(model: str, i: int, prompt: Any, **extra: Any) -> dict[str, Any]:
    return {"id": f"p{i}", "api": "anthropic", "model_name": model, "prompt": prompt, **extra}


def test_prompt_forms_system_and_default_max_tokens(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """All three forms work; system goes to `system`; max_tokens defaults to 1024."""
    model = unique_model("claude-forms")
    records = [
        _record(model, 0, "hello", parameters={"max_tokens": 50, "temperature": 0.1}),
        _record(model, 1, ["first turn", "second turn"]),
        _record(
            model,
            2,
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        ),
    ]
    lines, result = run_records(tmp_path, records, _env(llmock_server))
    assert result.exit_code == 0
    out = by_id(lines)
    for line in lines:
        assert line["status"] == "ok" and line["response_model"] == model
        assert line["usage"]["input_tokens"] is not None and line["usage"]["output_tokens"] > 0
        assert line["finish_reason"] in ("end_turn", "max_tokens")
    assert isinstance(out["p1"]["response"], list) and len(out["p1"]["response"]) == 2

    bodies = llmock_bodies(llmock_server, model)
    assert len(bodies) == 4  # one request per user turn of the conversation
    by_first = {b["messages"][0]["content"]: b for b in bodies if len(b["messages"]) == 1}
    assert by_first["hello"]["max_tokens"] == 50 and by_first["hello"]["temperature"] == 0.1
    assert by_first["first turn"]["max_tokens"] == 1024  # the documented default
    system_body = by_first["hi"]
    assert system_body["system"] == "be brief"
    assert [m["role"] for m in system_body["messages"]] == ["user"]
    second_turn = next(b for b in bodies if len(b["messages"]) == 3)
    assert [m["role"] for m in second_turn["messages"]] == ["user", "assistant", "user"]


def test_images_from_media_folder_and_url(tmp_path: Path, llmock_server: servers.Server) -> None:
    """A media file goes as base64 with its MIME type; a URL goes as a url source."""
    write_media(tmp_path)
    model = unique_model("claude-vision")
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "media": "pixel.png"},
        {"type": "image", "url": "https://example.org/cat.jpg"},
    ]
    lines, result = run_records(
        tmp_path, [_record(model, 0, [{"role": "user", "content": content}])], _env(llmock_server)
    )
    assert result.exit_code == 0, lines
    (body,) = llmock_bodies(llmock_server, model)
    blocks = body["messages"][0]["content"]
    assert blocks[0] == {"type": "text", "text": "what is this?"}
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
    }
    assert blocks[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.org/cat.jpg"},
    }


def test_overloaded_529_and_429_are_retried(tmp_path: Path, llmock_server: servers.Server) -> None:
    """529 overloaded_error and 429 (waiting out its Retry-After) are retried to success."""
    model = unique_model("claude-faults")
    scenario(
        llmock_server,
        {"type": "fail", "status": 529, "times": 1, "match": {"model": model}},
        {"type": "fail", "status": 429, "retry_after": 1, "times": 1, "match": {"model": model}},
    )
    started = time.monotonic()
    lines, result = run_records(
        tmp_path, [_record(model, 0, "hello")], _env(llmock_server), "max_attempts=3"
    )
    assert time.monotonic() - started >= 1.0
    assert result.exit_code == 0
    assert lines[0]["status"] == "ok" and lines[0]["attempts"] == 3


def test_400_is_recorded_once(tmp_path: Path, llmock_server: servers.Server) -> None:
    """Another 4xx is fatal: one attempt, the API's error in the error field."""
    model = unique_model("claude-400")
    scenario(llmock_server, {"type": "fail", "status": 400, "times": 1, "match": {"model": model}})
    lines, result = run_records(
        tmp_path, [_record(model, 0, "hello")], _env(llmock_server), "max_attempts=4"
    )
    assert result.exit_code == 1
    assert lines[0]["attempts"] == 1 and lines[0]["error"].startswith("HTTP 400")
    assert "invalid_request_error" in lines[0]["error"]


def test_exhausted_credit_stops_the_group(tmp_path: Path, llmock_server: servers.Server) -> None:
    """A credit-balance 400 is a hard quota: the group stops, the rest are not sent."""
    model = unique_model("claude-credit")
    scenario(
        llmock_server,
        {
            "type": "fail",
            "status": 400,
            "message": "Your credit balance is too low to access the Anthropic API.",
            "times": 1,
            "match": {"model": model},
        },
    )
    records = [_record(model, i, f"hello {i}") for i in range(3)]
    lines, result = run_records(
        tmp_path, records, _env(llmock_server), "max_concurrency=1", "max_attempts=3"
    )
    assert result.exit_code == 1
    assert [line["error_kind"] for line in lines].count("not_sent") == 2
    assert result.summary.not_sent == 2
    assert "not sent" in result.summary.format()
    assert len(llmock_bodies(llmock_server, model)) == 1  # nothing after the quota error
