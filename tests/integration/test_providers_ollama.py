"""api: ollama and azure-openai against @copilotkit/aimock; huggingface-tgi against llmock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.providers_support import (
    aimock_journal,
    by_id,
    llmock_bodies,
    run_records,
    unique_model,
)

pytestmark = pytest.mark.integration


FIXTURES = Path(__file__).parents[1] / "fixtures" / "aimock"


@pytest.fixture(scope="module")
def aimock_server() -> Iterator[servers.Server]:
    """aimock serving tests/fixtures/aimock (its catch-all file sorts last)."""
    with servers.aimock(FIXTURES) as server:
        yield server


def _record(api: str, model: str, i: int, prompt: Any, **extra: Any) -> dict[str, Any]:
    return {"id": f"p{i}", "api": api, "model_name": model, "prompt": prompt, **extra}


def _entries(server: servers.Server, model: str) -> list[dict[str, Any]]:
    return [e for e in aimock_journal(server) if (e.get("body") or {}).get("model") == model]


def test_ollama_string_to_generate_and_conversations_to_chat(
    tmp_path: Path, aimock_server: servers.Server
) -> None:
    """A string goes to /api/generate; conversations and messages go to /api/chat."""
    model = unique_model("llama-forms")
    params = {"temperature": 0.2, "num_predict": 30}
    records = [
        _record("ollama", model, 0, "hello", parameters=params),
        _record("ollama", model, 1, ["first turn", "second turn"]),
        _record(
            "ollama",
            model,
            2,
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        ),
    ]
    env = {"OLLAMA_API_ENDPOINT": aimock_server.url}
    lines, result = run_records(tmp_path, records, env)
    assert result.exit_code == 0, lines
    out = by_id(lines)
    assert out["p0"]["response"] == "ok from aimock"
    assert out["p1"]["response"] == ["ok from aimock", "reply to the second turn"]
    for line in lines:
        assert line["finish_reason"] == "stop" and line["response_model"] == model
        assert line["usage"]["output_tokens"] is not None

    entries = _entries(aimock_server, model)
    assert sorted(e["path"] for e in entries) == ["/api/chat"] * 3 + ["/api/generate"]
    generate = next(e for e in entries if e["path"] == "/api/generate")
    # aimock maps options.temperature / options.num_predict onto these fields.
    assert generate["body"]["temperature"] == 0.2 and generate["body"]["max_tokens"] == 30
    chats = [e["body"]["messages"] for e in entries if e["path"] == "/api/chat"]
    assert [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}] in chats


def test_ollama_429_is_retried_after_its_wait(
    tmp_path: Path, aimock_server: servers.Server
) -> None:
    """A 429 with Retry-After is retried (after the wait), then recorded with the API's error."""
    env = {"OLLAMA_API_ENDPOINT": aimock_server.url}
    started = time.monotonic()
    lines, result = run_records(
        tmp_path, [_record("ollama", "ollama-ratelimited", 0, "hi")], env, "max_attempts=2"
    )
    assert time.monotonic() - started >= 1.0
    assert result.exit_code == 1
    assert lines[0]["attempts"] == 2 and lines[0]["error"].startswith("HTTP 429")


def test_azure_openai_deployment_route(tmp_path: Path, aimock_server: servers.Server) -> None:
    """The deployment is model_name, the key goes in api-key, the version in the query."""
    deployment = unique_model("gpt-deploy")
    env = {
        "AZURE_OPENAI_API_KEY": "test-key",
        "AZURE_OPENAI_API_ENDPOINT": aimock_server.url + "/",
        "AZURE_OPENAI_API_VERSION": "2024-06-01",
    }
    records = [
        _record("azure-openai", deployment, 0, "hello"),
        _record("azure-openai", deployment, 1, ["first turn", "second turn"]),
    ]
    lines, result = run_records(tmp_path, records, env)
    assert result.exit_code == 0, lines
    assert by_id(lines)["p1"]["response"] == ["ok from aimock", "reply to the second turn"]
    entries = [
        e for e in aimock_journal(aimock_server) if deployment in str(e.get("path"))
    ] or pytest.fail("aimock saw no request on the deployment's route")
    assert len(entries) == 3
    # aimock redacts the key's value in its journal; that the header came is what it shows.
    assert all("api-key" in e["headers"] for e in entries)
    route = f"/openai/deployments/{deployment}/chat/completions?api-version=2024-06-01"
    assert all(e["path"] == route for e in entries)


def test_huggingface_tgi_openai_route(tmp_path: Path, llmock_server: servers.Server) -> None:
    """TGI's /v1/chat/completions, with the endpoint given with or without /v1."""
    model = unique_model("tgi")
    for endpoint in (llmock_server.url, f"{llmock_server.url}/v1/"):
        env = {"HUGGINGFACE_TGI_API_ENDPOINT": endpoint, "HUGGINGFACE_TGI_API_KEY": "k"}
        lines, result = run_records(tmp_path, [_record("huggingface-tgi", model, 0, "hi")], env)
        assert result.exit_code == 0, lines
        assert lines[0]["usage"]["output_tokens"] > 0 and lines[0]["response_model"] == model
    assert len(llmock_bodies(llmock_server, model)) == 2
