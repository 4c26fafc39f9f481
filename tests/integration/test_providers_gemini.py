"""api: gemini over real HTTP against llmock's Gemini v1beta generateContent route."""

from __future__ import annotations

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
    return {"GEMINI_API_KEY": "test-key", "GEMINI_BASE_URL": f"{server.url}/gemini/v1beta"}


def _record(model: str, i: int, prompt: Any, **extra: Any) -> dict[str, Any]:
    return {"id": f"p{i}", "api": "gemini", "model_name": model, "prompt": prompt, **extra}


def test_prompt_forms_roles_and_system_instruction(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """Roles are user/model, system goes to systemInstruction, parameters to generationConfig."""
    model = unique_model("gemini-forms")
    records = [
        _record(model, 0, "hello", parameters={"temperature": 0.3, "max_output_tokens": 40}),
        _record(model, 1, ["first turn", "second turn"]),
        _record(
            model,
            2,
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        ),
    ]
    lines, result = run_records(tmp_path, records, _env(llmock_server))
    assert result.exit_code == 0, lines
    for line in lines:
        assert line["status"] == "ok" and line["finish_reason"] == "STOP"
        assert line["usage"]["input_tokens"] is not None and line["usage"]["output_tokens"] > 0
        assert line["response_model"] == model
    assert len(by_id(lines)["p1"]["response"]) == 2

    bodies = llmock_bodies(llmock_server, model)
    assert len(bodies) == 4
    first = {b["contents"][0]["parts"][0]["text"]: b for b in bodies if len(b["contents"]) == 1}
    assert first["hello"]["generationConfig"] == {"temperature": 0.3, "max_output_tokens": 40}
    assert first["hi"]["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert [c["role"] for c in first["hi"]["contents"]] == ["user"]
    second_turn = next(b for b in bodies if len(b["contents"]) == 3)
    assert [c["role"] for c in second_turn["contents"]] == ["user", "model", "user"]


def test_images_inline_and_by_uri(tmp_path: Path, llmock_server: servers.Server) -> None:
    """A media file goes as inlineData (base64 + MIME type); a URL as fileData."""
    write_media(tmp_path)
    model = unique_model("gemini-vision")
    content = [
        {"type": "image", "media": "pixel.png"},
        {"type": "image", "url": "https://example.org/cat.jpg"},
        {"type": "text", "text": "compare"},
    ]
    lines, result = run_records(
        tmp_path, [_record(model, 0, [{"role": "user", "content": content}])], _env(llmock_server)
    )
    assert result.exit_code == 0, lines
    (body,) = llmock_bodies(llmock_server, model)
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.org/cat.jpg"}},
        {"text": "compare"},
    ]


def test_resource_exhausted_and_503_are_retried(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """429 RESOURCE_EXHAUSTED and 503 UNAVAILABLE are retried to success."""
    model = unique_model("gemini-faults")
    scenario(
        llmock_server,
        {"type": "fail", "status": 429, "retry_after": 0.2, "times": 1, "match": {"model": model}},
        {"type": "fail", "status": 503, "retry_after": 0.2, "times": 1, "match": {"model": model}},
    )
    lines, result = run_records(
        tmp_path, [_record(model, 0, "hello")], _env(llmock_server), "max_attempts=3"
    )
    assert result.exit_code == 0, lines
    assert lines[0]["attempts"] == 3


def test_invalid_argument_is_recorded_once(tmp_path: Path, llmock_server: servers.Server) -> None:
    """A 400 INVALID_ARGUMENT is fatal, named by its google.rpc status."""
    model = unique_model("gemini-400")
    scenario(llmock_server, {"type": "fail", "status": 400, "times": 1, "match": {"model": model}})
    lines, result = run_records(
        tmp_path, [_record(model, 0, "hello")], _env(llmock_server), "max_attempts=4"
    )
    assert result.exit_code == 1
    assert lines[0]["attempts"] == 1
    assert lines[0]["error"].startswith("HTTP 400") and "INVALID_ARGUMENT" in lines[0]["error"]
