"""Today's request shapes against llmock: the Responses API, tool calls, reasoning settings.

llmock (PyPI) serves ``/v1/responses`` and answers tool calls for OpenAI chat, Responses,
Anthropic and Gemini; its journal shows the bodies runner sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.helpers import ROOT, get_json, write_jsonl
from tests.providers_support import (
    PNG_B64,
    PROVIDER_ENV_PREFIXES,
    by_id,
    run_records,
    unique_model,
    write_media,
)

pytestmark = pytest.mark.integration


WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": WEATHER,
        },
    }
]


ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "n": {"type": "integer"}},
    "required": ["city", "n"],
    "additionalProperties": False,
}


# The chat form the schema helper emits; the Responses API takes it flat in text.format.
CHAT_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True},
}


def _env(server: servers.Server) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{server.url}/v1",
        "ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": f"{server.url}/anthropic",
        "GEMINI_API_KEY": "k", "GEMINI_BASE_URL": f"{server.url}/gemini/v1beta",
    }  # fmt: skip


def _journal(server: servers.Server, model: str) -> list[tuple[str, dict[str, Any]]]:
    """The (path, body) of each request llmock got for ``model``, oldest first."""
    journal = get_json(f"{server.url}/_llmock/requests")
    return [(r["path"], r["body"]) for r in journal["requests"] if r.get("model") == model]


def _record(i: str, api: str, model: str, prompt: Any, **params: Any) -> dict[str, Any]:
    return {"id": i, "api": api, "model_name": model, "prompt": prompt, "parameters": params}


def test_responses_api_sends_history_instructions_schema_and_reasoning(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-5-mini")
    system = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a city"}]
    records = [
        _record("s", "openai", model, system, response_format=CHAT_SCHEMA,
                reasoning_effort="low", max_completion_tokens=200),
        _record("m", "openai", model, ["first turn", "second turn"], max_completion_tokens=99),
        _record("t", "openai", model, "stream me", stream=True, max_completion_tokens=98),
        _record("i", "openai", model, [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image", "media": "pixel.png"}]}], max_completion_tokens=97),
    ]  # fmt: skip
    write_media(tmp_path)
    lines, result = run_records(
        tmp_path, records, _env(llmock_server), "apis.openai.endpoint=responses"
    )
    assert result.exit_code == 0
    out = by_id(lines)
    for line in lines:
        assert line["status"] == "ok" and line["finish_reason"] == "stop"
        assert line["usage"]["input_tokens"] > 0 and line["usage"]["output_tokens"] > 0
    parsed = json.loads(out["s"]["response"])  # llmock answers with an example of the schema
    assert isinstance(parsed["city"], str) and isinstance(parsed["n"], int)
    assert len(out["m"]["response"]) == 2 and out["t"]["response"]

    journal = _journal(llmock_server, model)
    assert {path for path, _ in journal} == {"/v1/responses"}
    bodies = [body for _, body in journal]
    (s,) = [b for b in bodies if b.get("instructions")]
    assert s["instructions"] == "be brief"
    assert s["input"] == [{"role": "user", "content": "a city"}]
    assert s["text"] == {"format": {"type": "json_schema", "name": "answer",
                                    "schema": ANSWER_SCHEMA, "strict": True}}  # fmt: skip
    assert s["reasoning"] == {"effort": "low"} and s["max_output_tokens"] == 200
    assert not {"response_format", "reasoning_effort", "max_completion_tokens"} & set(s)
    (second,) = [b for b in bodies if len(b["input"]) == 3]  # the conversation's 2nd turn
    assert [item["role"] for item in second["input"]] == ["user", "assistant", "user"]
    assert second["input"][1]["content"] == out["m"]["response"][0]
    (streamed,) = [b for b in bodies if b.get("stream")]
    assert streamed["max_output_tokens"] == 98
    (image,) = [b for b in bodies if b["max_output_tokens"] == 97]
    assert image["input"][0]["content"] == [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}", "detail": "auto"},
    ]


def test_a_model_yaml_chooses_the_responses_endpoint(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-4.1-nano")
    records = [{"id": "p", "prompt": "hello"}]
    overrides = ("model=gpt_4_1_nano", f"model.model_name={model}", "model.endpoint=responses")
    lines, result = run_records(tmp_path, records, _env(llmock_server), *overrides)
    assert result.exit_code == 0 and lines[0]["status"] == "ok"
    ((path, body),) = _journal(llmock_server, model)
    assert path == "/v1/responses" and body["max_output_tokens"] == 512  # the yaml's max_tokens


def _tool_records(model: str) -> list[dict[str, Any]]:
    anthropic_tools = [
        {"name": "get_weather", "description": "Weather in a city", "input_schema": WEATHER}
    ]
    gemini_tools = [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER}
            ]
        }
    ]
    prompt = "weather in Paris?"
    return [
        _record("oc", "openai", model, prompt, tools=CHAT_TOOLS, tool_choice="required"),
        _record("ocs", "openai", model, prompt, tools=CHAT_TOOLS, stream=True),
        _record("an", "anthropic", model, prompt, tools=anthropic_tools,
                tool_choice={"type": "any"}),
        _record("ans", "anthropic", model, prompt, tools=anthropic_tools, stream=True),
        _record("ge", "gemini", model, prompt, tools=gemini_tools, temperature=0.2,
                toolConfig={"functionCallingConfig": {"mode": "ANY"}}),
    ]  # fmt: skip


def _assert_called(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        assert line["status"] == "ok", line
        assert line["response"] == ""
        (call,) = line["tool_calls"]
        assert call["name"] == "get_weather" and isinstance(call["arguments"]["city"], str)


def test_tool_calls_are_recorded_for_every_api(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("tools")
    lines, result = run_records(tmp_path, _tool_records(model), _env(llmock_server))
    assert result.exit_code == 0 and len(lines) == 5
    _assert_called(lines)
    bodies = {path: body for path, body in _journal(llmock_server, model)}
    gemini = bodies[f"/gemini/v1beta/models/{model}:generateContent"]
    assert gemini["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert gemini["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert gemini["generationConfig"] == {"temperature": 0.2}  # tools are not settings
    assert bodies["/anthropic/v1/messages"]["tools"][0]["input_schema"] == WEATHER

    # The Responses API: the chat-form tools go flat, calls come back as function_call items.
    responses = [
        _record("ro", "openai", model, "weather in Paris?", tools=CHAT_TOOLS,
                tool_choice={"type": "function", "function": {"name": "get_weather"}}),
        _record("ros", "openai", model, "weather in Paris?", tools=CHAT_TOOLS, stream=True),
    ]  # fmt: skip
    lines, result = run_records(
        tmp_path / "r", responses, _env(llmock_server), "apis.openai.endpoint=responses"
    )
    assert result.exit_code == 0 and len(lines) == 2
    _assert_called(lines)
    sent = [body for path, body in _journal(llmock_server, model) if path == "/v1/responses"]
    assert len(sent) == 2
    flat = {"type": "function", "name": "get_weather", "description": "Weather in a city"}
    for body in sent:
        assert body["tools"] == [{**flat, "parameters": WEATHER}]
    assert {"type": "function", "name": "get_weather"} in [b.get("tool_choice") for b in sent]


def _check(tmp_path: Path, server: servers.Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_ENV_PREFIXES)}
    env.update(_env(server))
    argv = [sys.executable, "-m", "runner.check", "experiment=exp",
            f"experiments_dir={tmp_path / 'experiments'}", *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_the_check_refuses_reasoning_settings_the_apis_refuse(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("claude")
    on = {"type": "enabled", "budget_tokens": 2048}
    records = [
        _record("1", "openai", "o3-mini", "hi", max_tokens=100),
        _record("2", "openai", "gpt-5-mini", "hi", max_completion_tokens=100,
                reasoning_effort="minimal"),
        _record("3", "anthropic", model, "hi", max_tokens=4096,
                thinking={"type": "enabled", "budget_tokens": 512}),
        _record("4", "anthropic", model, "hi", max_tokens=1024, thinking=on),
        _record("5", "anthropic", model, "hi", thinking={"type": "enabled", "budget_tokens": 1024}),
        _record("6", "anthropic", model, "hi", max_tokens=4096, thinking=on, temperature=0.5,
                top_k=5),
        _record("7", "anthropic", model, "hi", max_tokens=4096, thinking=on,
                tool_choice={"type": "any"}),
        _record("8", "anthropic", model, "hi", max_tokens=4096, thinking=on, temperature=1),
    ]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    out = _check(tmp_path, llmock_server)
    assert out.returncode == 2, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "exp.jsonl:1: field 'parameters.max_tokens': 'o3-mini' is an o-series" in text
    assert "max_completion_tokens instead" in text
    assert "exp.jsonl:3: field 'parameters.thinking.budget_tokens' is 512" in text
    assert "exp.jsonl:4: field 'parameters.thinking.budget_tokens' (2048) must be below" in text
    assert "(1024, the default max_tokens)" in text  # line 5: apis.anthropic's default
    assert "exp.jsonl:6: field 'parameters.temperature' is 0.5" in text
    assert "exp.jsonl:6: field 'parameters.top_k'" in text
    assert "exp.jsonl:7: field 'parameters.tool_choice'" in text
    assert "exp.jsonl:2:" not in text and "exp.jsonl:8:" not in text
    assert "7 problem(s)" in text
    assert _journal(llmock_server, model) == []  # nothing was sent

    bad = _check(tmp_path, llmock_server, "apis.openai.endpoint=soap")
    assert bad.returncode == 2
    assert "apis.openai.endpoint must be chat or responses" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
    odd = _check(tmp_path, llmock_server, "model=gemma_local", "model.endpoint=responses")
    assert odd.returncode == 2 and "Traceback" not in odd.stderr
    assert "model.endpoint chooses the OpenAI endpoint" in odd.stdout + odd.stderr


def test_chat_reasoning_settings_pass_through_and_the_cache_keeps_tool_calls(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("o4-mini")
    params = {"reasoning_effort": "low", "max_completion_tokens": 64, "tools": CHAT_TOOLS}
    records = [_record("c", "openai", model, "weather in Paris?", **params)]
    first, _ = run_records(tmp_path / "1", records, _env(llmock_server), "cache=on")
    again, _ = run_records(tmp_path / "2", records, _env(llmock_server), "cache=on")
    ((path, body),) = _journal(llmock_server, model)  # the second run sent nothing
    assert path == "/v1/chat/completions"
    assert body["reasoning_effort"] == "low" and body["max_completion_tokens"] == 64
    assert "max_tokens" not in body
    assert first[0]["tool_calls"][0]["name"] == "get_weather" and not first[0]["cached"]
    assert again[0]["cached"] and again[0]["tool_calls"] == first[0]["tool_calls"]
