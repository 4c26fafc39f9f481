"""The model's thinking text, where an API returns it, is kept apart from the response.

No third-party test server returns thinking, so each API answers here with the body its
reference documents (cited per test), from an in-test server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.index import read_connection, update_index
from runner.index.db import write_connection
from runner.index.schema import RUN_TOKEN_COLUMNS, VERSION_4_RESPONSE_COLUMNS
from tests.documented_server import documented_server, sse
from tests.providers_support import by_id, run_records

# https://docs.claude.com/en/docs/build-with-claude/extended-thinking ("How extended
# thinking works": thinking blocks, then text blocks) in the Messages API's message object.
ANTHROPIC_THINKING = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {
            "type": "thinking",
            "thinking": "Let me analyze this step by step...",
            "signature": "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG",
        },
        {"type": "text", "text": "Based on my analysis..."},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 80},
}

# The same page, "Streaming thinking": thinking_delta and signature_delta events.
ANTHROPIC_THINKING_STREAM = sse(
    {"type": "message_start", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "content": [],
        "model": "claude-sonnet-4-5", "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0,
     "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {
        "type": "thinking_delta", "thinking": "Let me solve this step by step:\n\n1. 27 * 453"}},
    {"type": "content_block_delta", "index": 0,
     "delta": {"type": "thinking_delta", "thinking": "\n2. 453 = 400 + 50 + 3"}},
    {"type": "content_block_delta", "index": 0,
     "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1,
     "delta": {"type": "text_delta", "text": "27 * 453 = 12,231"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
     "usage": {"output_tokens": 90}},
    {"type": "message_stop"},
)  # fmt: skip

# https://ai.google.dev/gemini-api/docs/thinking ("Thought summaries": parts with
# thought: true when thinkingConfig.includeThoughts is set) in a GenerateContentResponse.
GEMINI_THOUGHTS = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {
                        "text": "**Analyzing the riddle**\n\nI am weighing each clue.",
                        "thought": True,
                    },
                    {"text": "The answer is a map."},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 20,
        "candidatesTokenCount": 6,
        "thoughtsTokenCount": 120,
        "totalTokenCount": 146,
    },
    "modelVersion": "gemini-2.5-flash",
}

# https://platform.openai.com/docs/guides/reasoning ("Reasoning summaries"): a reasoning
# item with summary_text parts, then the message, in a Responses ``response`` object.
RESPONSES_REASONING = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "model": "o4-mini-2025-04-16",
    "output": [
        {
            "id": "rs_1",
            "type": "reasoning",
            "summary": [
                {"type": "summary_text", "text": "**Answering a simple question**\n\nI'm sure."}
            ],
        },
        {
            "id": "msg_1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "text": "Paris."}],
        },
    ],
    "usage": {
        "input_tokens": 13,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 100,
        "output_tokens_details": {"reasoning_tokens": 90},
        "total_tokens": 113,
    },
}

# https://github.com/ollama/ollama/blob/main/docs/api.md ("Chat request (with thinking)"
# gives message.thinking; "Chat request (with tools)" gives message.tool_calls).
OLLAMA_THINKING_AND_CALL = {
    "model": "qwen3",
    "created_at": "2025-05-29T09:35:56.836222Z",
    "message": {
        "role": "assistant",
        "content": "",
        "thinking": "The user wants the weather; I should call the tool.",
        "tool_calls": [
            {
                "function": {
                    "name": "get_current_weather",
                    "arguments": {"format": "celsius", "location": "Paris, FR"},
                }
            }
        ],
    },
    "done_reason": "stop",
    "done": True,
    "prompt_eval_count": 122,
    "eval_count": 33,
}


def _record(i: str, api: str, model: str, prompt: Any, **params: Any) -> dict[str, Any]:
    return {"id": i, "api": api, "model_name": model, "prompt": prompt, "parameters": params}


def test_thinking_is_kept_apart_for_every_api_that_returns_it(tmp_path: Path) -> None:
    routes = {
        "/anthropic/v1/messages": ANTHROPIC_THINKING,
        "/gemini/v1beta/models/gemini-2.5-flash:generateContent": GEMINI_THOUGHTS,
        "/v1/responses": RESPONSES_REASONING,
        "/api/chat": OLLAMA_THINKING_AND_CALL,
    }
    thinking = {"type": "enabled", "budget_tokens": 2048}
    records = [
        _record("a", "anthropic", "claude-sonnet-4-5", "hi", max_tokens=4096, thinking=thinking),
        _record("g", "gemini", "gemini-2.5-flash", "riddle",
                thinkingConfig={"thinkingBudget": 1024, "includeThoughts": True}),
        _record("r", "openai", "o4-mini", "capital of France?",
                reasoning={"effort": "low", "summary": "auto"}),
        _record("o", "ollama", "qwen3", [{"role": "user", "content": "weather?"}], think=True,
                tools=[{"type": "function", "function": {"name": "get_current_weather"}}]),
        _record("p", "gemini", "gemini-2.5-flash", ["turn one", "turn two"]),
    ]  # fmt: skip
    with documented_server(routes) as server:
        env = {
            "ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": f"{server.url}/anthropic",
            "GEMINI_API_KEY": "k", "GEMINI_BASE_URL": f"{server.url}/gemini/v1beta",
            "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{server.url}/v1",
            "OLLAMA_API_ENDPOINT": server.url,
        }  # fmt: skip
        lines, result = run_records(tmp_path, records, env, "apis.openai.endpoint=responses")
        requests = list(server.requests)
    sent = dict(requests)
    assert result.exit_code == 0
    out = by_id(lines)
    assert out["a"]["thinking"] == "Let me analyze this step by step..."
    assert out["a"]["response"] == "Based on my analysis..."
    assert out["g"]["thinking"].startswith("**Analyzing the riddle**")
    assert out["g"]["response"] == "The answer is a map."  # the thought part is not in it
    assert out["r"]["thinking"] == "**Answering a simple question**\n\nI'm sure."
    assert out["r"]["response"] == "Paris."
    assert out["o"]["thinking"].startswith("The user wants the weather")
    assert out["o"]["tool_calls"] == [
        {"name": "get_current_weather", "arguments": {"format": "celsius", "location": "Paris, FR"}}
    ]
    # A conversation keeps one thinking text per turn, like its replies.
    assert out["p"]["thinking"] == [out["g"]["thinking"]] * 2
    # What was sent: each API's own reasoning setting, where it belongs.
    assert sent["/anthropic/v1/messages"]["thinking"] == thinking
    (gemini_body,) = [
        b for _, b in requests if b.get("contents", [{}])[0].get("parts") == [{"text": "riddle"}]
    ]
    assert "thinkingConfig" in gemini_body["generationConfig"]
    assert sent["/v1/responses"]["reasoning"] == {"effort": "low", "summary": "auto"}
    assert sent["/api/chat"]["think"] is True and sent["/api/chat"]["tools"]

    report = update_index(tmp_path / "outputs")
    assert report is not None
    with read_connection(tmp_path / "outputs") as con:
        rows = dict(con.execute("SELECT id, thinking FROM responses").fetchall())
        calls = con.execute("SELECT tool_calls->'$[0]'->>'name' FROM responses WHERE id='o'")
        assert calls.fetchone() == ("get_current_weather",)
        none = con.execute("SELECT tool_calls FROM responses WHERE id = 'a'").fetchone()
    assert rows["a"] == "Let me analyze this step by step..." and none == (None,)
    assert json.loads(rows["p"])[0].startswith("**Analyzing")

    with write_connection(tmp_path / "outputs") as con:  # an index of version 3
        for column in VERSION_4_RESPONSE_COLUMNS:
            con.execute(f"ALTER TABLE responses DROP COLUMN {column}")
        for column in RUN_TOKEN_COLUMNS:
            con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        con.execute("ALTER TABLE responses DROP COLUMN mean_score")  # nor version 6's
        con.execute("UPDATE index_meta SET value = '3' WHERE key = 'schema_version'")
    assert not update_index(tmp_path / "outputs").rebuilt  # migrated in place
    with read_connection(tmp_path / "outputs") as con:
        again = dict(con.execute("SELECT id, thinking FROM responses").fetchall())
        calls = con.execute("SELECT tool_calls->'$[0]'->>'name' FROM responses WHERE id='o'")
        assert calls.fetchone() == ("get_current_weather",)
    assert again == rows


def test_streamed_thinking_is_kept_apart(tmp_path: Path) -> None:
    routes = {"/anthropic/v1/messages": ANTHROPIC_THINKING_STREAM}
    thinking = {"type": "enabled", "budget_tokens": 1024}
    records = [_record("a", "anthropic", "claude", "27*453?", stream=True, thinking=thinking,
                       max_tokens=2048)]  # fmt: skip
    with documented_server(routes) as server:
        env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": f"{server.url}/anthropic"}
        lines, result = run_records(tmp_path, records, env)
    assert result.exit_code == 0
    (line,) = lines
    assert (
        line["thinking"] == "Let me solve this step by step:\n\n1. 27 * 453\n2. 453 = 400 + 50 + 3"
    )
    assert line["response"] == "27 * 453 = 12,231"
    assert line["usage"]["output_tokens"] == 90


def test_azure_openai_reaches_the_responses_api(tmp_path: Path) -> None:
    """route=responses: ``{endpoint}/openai/v1/responses``, the deployment as ``model``
    (https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/responses)."""
    routes = {"/openai/v1/responses": RESPONSES_REASONING}
    records = [_record("z", "azure-openai", "my-o4-mini", "capital of France?",
                       max_completion_tokens=300)]  # fmt: skip
    with documented_server(routes) as server:
        env = {"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_API_ENDPOINT": server.url}
        lines, result = run_records(tmp_path, records, env, "apis.azure_openai.route=responses")
        ((path, body),) = server.requests
    assert result.exit_code == 0
    assert path == "/openai/v1/responses" and body["model"] == "my-o4-mini"
    assert body["max_output_tokens"] == 300 and body["input"][0]["content"] == "capital of France?"
    assert lines[0]["response"] == "Paris." and lines[0]["thinking"].startswith("**Answering")
    usage = lines[0]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (13, 100)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return "data: " + json.dumps({"object": "chat.completion.chunk", "model": "r1",
                                  "choices": [choice]}) + "\n\n"  # fmt: skip


def test_reasoning_content_of_openai_compatible_servers_is_thinking(tmp_path: Path) -> None:
    """vLLM's reasoning outputs: ``reasoning_content`` beside ``content``, whole or streamed
    (https://docs.vllm.ai/en/latest/features/reasoning_outputs.html)."""
    whole = {"object": "chat.completion", "model": "r1", "choices": [{"index": 0,
             "message": {"role": "assistant", "reasoning_content": "9.11 < 9.8 since 0.11 < 0.8",
                         "content": "9.8 is greater."}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 9, "completion_tokens": 30}}  # fmt: skip
    streamed = (
        _chunk({"role": "assistant", "reasoning_content": "9.11 < 9.8"})
        + _chunk({"reasoning_content": " since 0.11 < 0.8"})
        + _chunk({"content": "9.8 is greater."})
        + _chunk({}, "stop")
        + "data: [DONE]\n\n"
    )
    records = [_record("w", "openai", "r1", "which is greater, 9.11 or 9.8?"),
               _record("s", "openai", "r1-stream", "which is greater?", stream=True)]  # fmt: skip
    with documented_server(
        {"/v1/chat/completions": whole, "/s/v1/chat/completions": streamed}
    ) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{server.url}/v1",
               "OPENAI_BASE_URL_r1_stream": f"{server.url}/s/v1"}  # fmt: skip
        lines, result = run_records(tmp_path, records, env)
    assert result.exit_code == 0
    out = by_id(lines)
    for i in "sw":
        assert out[i]["thinking"] == "9.11 < 9.8 since 0.11 < 0.8"
        assert out[i]["response"] == "9.8 is greater."
