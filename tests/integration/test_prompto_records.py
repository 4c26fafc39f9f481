"""Records prompto tolerates: duplicate ids, input keys named like output fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import servers
from tests.helpers import read_jsonl, write_jsonl
from tests.integration.test_check import _check, _env
from tests.providers_support import run_records, unique_model

pytestmark = pytest.mark.integration


def test_duplicate_ids_each_get_their_own_result_and_evaluation(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-dup")
    records = [
        {"id": 7, "api": "openai", "model_name": model, "prompt": "first"},
        {"id": 7, "api": "openai", "model_name": model, "prompt": "second"},
        {"id": 8, "api": "openai", "model_name": model, "prompt": "third"},
    ]
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    lines, result = run_records(tmp_path, records, env, "evaluation=length")
    assert result.exit_code == 0, lines
    by_line = {line["line"]: line for line in lines}
    assert {n: by_line[n]["prompt"] for n in (1, 2, 3)} == {1: "first", 2: "second", 3: "third"}
    assert [by_line[n]["prompt_key"] for n in (1, 2, 3)] == ["7", "7@line2", "8"]
    assert [by_line[n]["id"] for n in (1, 2)] == [7, 7]  # the user's id is untouched
    rows = read_jsonl(result.folder.path / "evaluations.jsonl")
    assert sorted({r["prompt_key"] for r in rows}) == ["7", "7@line2", "8"]


def test_the_check_warns_of_duplicates_and_renamed_keys(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    gpt = unique_model("gpt-warn")
    records = [
        {"id": "a", "api": "openai", "model_name": gpt, "prompt": "x", "response": "gold"},
        {"id": "b", "api": "openai", "model_name": gpt, "prompt": "y"},
        {"id": "a", "api": "openai", "model_name": gpt, "prompt": "z"},
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    out = _check(tmp_path, _env(llmock_server, OPENAI_API_KEY="k"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "exp.jsonl: id 'a' is on lines 1, 3; each line is sent and scored" in out.stderr
    assert (
        "exp.jsonl:1: input key(s) named like output fields are kept as 'response' as "
        "'input_response'" in out.stderr
    )


def test_an_input_response_key_is_kept_as_input_response(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("gpt-collide")
    records = [
        {
            "id": 0,
            "api": "openai",
            "model_name": model,
            "prompt": "q",
            "response": "gold",
            "status": "draft",
        }
    ]
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    lines, result = run_records(tmp_path, records, env)
    assert result.exit_code == 0, lines
    (line,) = lines
    assert line["input_response"] == "gold" and line["input_status"] == "draft"
    assert line["status"] == "ok" and line["response"] != "gold"
