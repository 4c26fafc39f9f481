"""Issue 20 items 1, 2 and 4: every usage count a provider bills, and cost equal to the bill.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_usage_billed.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from runner.index import read_connection
from runner.report.data import load_run
from tests.helpers import read_jsonl, write_jsonl
from tests.unit.test_usage_billed import ANTHROPIC_BILL as ANTHROPIC_BILL
from tests.unit.test_usage_billed import ANTHROPIC_MESSAGE as ANTHROPIC_MESSAGE
from tests.unit.test_usage_billed import GEMINI_BILL as GEMINI_BILL
from tests.unit.test_usage_billed import GEMINI_RESPONSE as GEMINI_RESPONSE
from tests.unit.test_usage_billed import OPENAI_BILL as OPENAI_BILL
from tests.unit.test_usage_billed import OPENAI_CHAT as OPENAI_CHAT
from tests.unit.test_usage_billed import VERTEX_BILL as VERTEX_BILL
from tests.unit.test_usage_billed import VERTEX_RESPONSE as VERTEX_RESPONSE
from tests.unit.test_usage_billed import M as M
from tests.usage_server import Answers, usage_server


def _run(tmp_path: Path, records: list[dict[str, Any]], env: dict[str, str]) -> Path:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    result = run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            f"limits_dir={tmp_path / 'limits'}",
            "max_queries=6000",
            "progress=off",
        ],
        env=env,
    )
    return result.folder.completed


def _chunks() -> list[dict[str, Any]]:
    """OpenAI's streamed chunks; the last carries usage (stream_options.include_usage).

    https://platform.openai.com/docs/api-reference/chat-streaming/streaming
    """
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    return [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Par"}}]},
        {**head, "choices": [{"index": 0, "delta": {"content": "is."}, "finish_reason": "stop"}]},
        {**head, "choices": [], "usage": OPENAI_CHAT["usage"]},
    ]


def _message_events() -> list[dict[str, Any]]:
    """Anthropic's stream: usage in message_start, output in message_delta.

    https://docs.anthropic.com/en/docs/build-with-claude/streaming
    """
    start = {**ANTHROPIC_MESSAGE, "content": [], "stop_reason": None,
             "usage": {**ANTHROPIC_MESSAGE["usage"], "output_tokens": 1}}  # fmt: skip
    return [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Paris."},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 300},
        },
        {"type": "message_stop"},
    ]


@pytest.mark.integration
def test_lines_index_and_run_json_carry_the_billed_counts(tmp_path: Path) -> None:
    answers = Answers(
        chat=OPENAI_CHAT,
        chat_chunks=_chunks(),
        message=ANTHROPIC_MESSAGE,
        message_events=_message_events(),
        generate=GEMINI_RESPONSE,
        vertex=VERTEX_RESPONSE,
    )
    records: list[dict[str, Any]] = [
        {"id": "chat", "api": "openai", "model_name": "gpt-4o-mini", "prompt": "q"},
        {"id": "chat-stream", "api": "openai", "model_name": "gpt-4o-mini", "prompt": "q",
         "parameters": {"stream": True}},
        {"id": "claude", "api": "anthropic", "model_name": "claude-3-5-haiku-latest",
         "prompt": "q"},
        {"id": "claude-stream", "api": "anthropic", "model_name": "claude-3-5-haiku-latest",
         "prompt": "q", "parameters": {"stream": True}},
        {"id": "gemini", "api": "gemini", "model_name": "gemini-2.5-flash", "prompt": "q"},
        {"id": "vertex", "api": "vertexai", "model_name": "gemini-2.5-flash", "prompt": "q"},
        {"id": "azure", "api": "azure-openai", "model_name": "gpt-4o-mini", "prompt": "q"},
    ]  # fmt: skip
    with usage_server(answers) as server:
        env = {
            "OPENAI_API_KEY": "k",
            "OPENAI_BASE_URL": f"{server.url}/v1",
            "ANTHROPIC_API_KEY": "k",
            "ANTHROPIC_BASE_URL": f"{server.url}/anthropic",
            "GEMINI_API_KEY": "k",
            "GEMINI_BASE_URL": f"{server.url}/gemini/v1beta",
            "VERTEXAI_PROJECT_ID": "p",
            "VERTEXAI_ACCESS_TOKEN": "t",
            "VERTEXAI_BASE_URL": server.url,
            "AZURE_OPENAI_API_KEY": "k",
            "AZURE_OPENAI_API_ENDPOINT": server.url,
        }
        completed = _run(tmp_path, records, env)
    lines = {line["id"]: line for line in read_jsonl(completed)}
    assert all(line["status"] == "ok" for line in lines.values()), lines
    expected = {
        "chat": ((1000, 800, None, 500, 400), OPENAI_BILL),
        "chat-stream": ((1000, 800, None, 500, 400), OPENAI_BILL),
        "claude": ((6200, 5000, 1000, 300, None), ANTHROPIC_BILL),
        "claude-stream": ((6200, 5000, 1000, 300, None), ANTHROPIC_BILL),
        "gemini": ((1000, 600, None, 1000, 900), GEMINI_BILL),
        "vertex": ((1200, 600, None, 1000, 900), VERTEX_BILL),
        "azure": ((1000, 800, None, 500, 400), OPENAI_BILL),  # the same usage block
    }
    names = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
             "reasoning_tokens")  # fmt: skip
    for key, (counts, bill) in expected.items():
        usage = lines[key]["usage"]
        assert tuple(usage[n] for n in names) == counts, key
        assert lines[key]["cost_usd"] == pytest.approx(bill, abs=1e-9), key
    run_json = json.loads((completed.parent / "run.json").read_text())
    tokens = run_json["cost"]["tokens"]
    assert tokens["cached_input_tokens"] == 800 * 3 + 5000 * 2 + 600 * 2
    assert tokens["reasoning_tokens"] == 400 * 3 + 900 * 2
    claude = run_json["cost"]["models"]["anthropic/claude-3-5-haiku-latest"]
    assert claude["cache_write_tokens"] == 2000 and claude["input_tokens"] == 12400
    with read_connection(tmp_path / "outputs") as con:
        row = con.execute(
            "SELECT sum(cached_input_tokens), sum(cache_write_tokens), sum(reasoning_tokens), "
            "sum(cost_usd) FROM responses"
        ).fetchone()
        assert row is not None and row[:3] == (13600, 2000, 3000)
        bills = 3 * OPENAI_BILL + 2 * ANTHROPIC_BILL + GEMINI_BILL + VERTEX_BILL
        assert row[3] == pytest.approx(bills)
        run_row = con.execute("SELECT cached_input_tokens, reasoning_tokens FROM runs").fetchone()
        assert run_row == (13600, 3000)
    tokens_table = load_run(completed.parent).tokens.records()
    claude_row = next(r for r in tokens_table if r["model"] == "claude-3-5-haiku-latest")
    assert (claude_row["cached_input_tokens"], claude_row["cache_write_tokens"]) == (10000, 2000)
    assert sum(r["reasoning_tokens"] for r in tokens_table) == 3000


@pytest.mark.integration
def test_a_cache_hit_keeps_the_counts_and_costs_nothing(tmp_path: Path) -> None:
    records = [{"id": "a", "api": "openai", "model_name": "gpt-4o-mini", "prompt": "q"}]
    with usage_server(Answers(chat=OPENAI_CHAT)) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{server.url}/v1"}
        runs = []
        for folder in ("one", "two"):
            write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
            result = run_experiment(
                "exp",
                [f"experiments_dir={tmp_path / 'experiments'}",
                 f"outputs_dir={tmp_path / folder}", f"cache_dir={tmp_path / 'cache'}",
                 "cache=on", "index=false", "progress=off"],
                env=env,
            )  # fmt: skip
            runs.append(read_jsonl(result.folder.completed)[0])
    assert len(server.requests) == 1
    first, hit = runs
    assert hit["cached"] is True and hit["usage"] == first["usage"]
    assert hit["usage"]["cached_input_tokens"] == 800 and hit["usage"]["reasoning_tokens"] == 400
    assert first["cost_usd"] == pytest.approx(OPENAI_BILL, abs=1e-9) and hit["cost_usd"] == 0


@pytest.mark.integration
def test_a_version_3_index_gets_the_token_columns_in_place(tmp_path: Path) -> None:
    from runner.index import update_index
    from runner.index.db import write_connection
    from runner.index.schema import RUN_TOKEN_COLUMNS, SCHEMA_VERSION, VERSION_4_RESPONSE_COLUMNS

    records = [{"id": "a", "api": "openai", "model_name": "gpt-4o-mini", "prompt": "q"}]
    with usage_server(Answers(chat=OPENAI_CHAT)) as server:
        _run(tmp_path, records, {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{server.url}/v1"})
    outputs = tmp_path / "outputs"
    with write_connection(outputs) as con:  # as a version-3 index was: none of the columns
        for column in VERSION_4_RESPONSE_COLUMNS:
            con.execute(f"ALTER TABLE responses DROP COLUMN {column}")
        for column in RUN_TOKEN_COLUMNS:
            con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        con.execute("ALTER TABLE responses DROP COLUMN mean_score")  # nor version 6's
        con.execute("UPDATE index_meta SET value = '3' WHERE key = 'schema_version'")
    assert not update_index(outputs).rebuilt
    with read_connection(outputs) as con:
        row = con.execute("SELECT cached_input_tokens, reasoning_tokens FROM responses")
        assert row.fetchone() == (800, 400)
        runs = con.execute("SELECT input_tokens, cached_input_tokens FROM runs").fetchone()
        assert runs == (1000, 800)
        version = con.execute("SELECT value FROM index_meta WHERE key = 'schema_version'")
        assert version.fetchone() == (SCHEMA_VERSION,)
