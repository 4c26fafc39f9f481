"""Structured output (``output_schema``): sent in each API's form, every answer checked with
``jsonschema``, invalid or truncated answers asked again (each attempt's cost counted), then
``invalid_output``; ``parsed`` on the line and in the index; batch mode; the cache."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from runner.config.setup import CONF_DIR
from runner.cost.prices import cost_of
from runner.errors import BadInputError
from runner.index import read_connection
from runner.providers.ollama import request_body
from tests import servers
from tests.batch_server import batch_server
from tests.helpers import ROOT, get_json, read_jsonl, runner_argv, write_jsonl
from tests.plain_server import plain_server
from tests.providers_support import aimock_journal
from tests.unit.test_structured_output import PERSON as PERSON
from tests.unit.test_structured_output import VALID as VALID
from tests.unit.test_structured_output import _env as _env
from tests.unit.test_structured_output import _overrides as _overrides
from tests.unit.test_structured_output import _record as _record


def _sent(server: servers.Server, model: str) -> list[Any]:
    """The bodies llmock got for ``model`` (its journal keeps each request's body)."""
    journal = get_json(f"{server.url}/_llmock/requests")["requests"]
    return [r["body"] for r in journal if r.get("model") == model and r["method"] == "POST"]


@pytest.mark.integration
def test_each_dialect_is_sent_natively_and_parsed(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    schema_file = tmp_path / "person.json"
    schema_file.write_text(json.dumps(PERSON))
    inline = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    records = [
        _record(0, "openai", "so-openai"),  # the run's schema (a .json file)
        _record(1, "anthropic", "so-claude", output_schema=inline),  # the record's, inline
        _record(2, "gemini", "so-gemini", output_schema="tests.structured_models:Person"),
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    result = run_experiment(
        "exp", _overrides(tmp_path, f"output_schema={schema_file}"), env=_env(llmock_server.url)
    )
    lines = {line["id"]: line for line in read_jsonl(result.folder.completed)}
    assert {line["status"] for line in lines.values()} == {"ok"}, lines
    assert set(lines["p0"]["parsed"]) == {"name", "age"}
    assert set(lines["p1"]["parsed"]) == {"city"}
    assert set(lines["p2"]["parsed"]) == {"name", "age"}
    assert isinstance(lines["p2"]["parsed"]["age"], int)

    (openai_body,) = _sent(llmock_server, "so-openai")
    assert openai_body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": PERSON, "strict": True},
    }
    (claude_body,) = _sent(llmock_server, "so-claude")
    assert claude_body["output_format"] == {"type": "json_schema", "schema": inline}
    (gemini_body,) = _sent(llmock_server, "so-gemini")
    config = gemini_body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["name", "age"]

    with read_connection(tmp_path / "outputs") as con:  # parsed is a JSON column
        rows = con.execute(
            "SELECT id, parsed->>'$.name', json_type(parsed) FROM responses ORDER BY id"
        ).fetchall()
    assert [(r[0], r[2]) for r in rows] == [("p0", "OBJECT"), ("p1", "OBJECT"), ("p2", "OBJECT")]
    assert rows[0][1] == lines["p0"]["parsed"]["name"] and rows[1][1] is None


@pytest.mark.integration
def test_json_object_with_a_schema_in_parameters_is_checked(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """llama.cpp's form (``json_object`` + ``schema``) written straight into parameters: llmock
    answers it, and runner checks the answer against that schema as for ``output_schema``."""
    fmt = {"type": "json_object", "schema": PERSON}
    records = [_record(0, "openai", "so-json-object", parameters={"response_format": fmt})]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    result = run_experiment("exp", _overrides(tmp_path), env=_env(llmock_server.url))
    (line,) = read_jsonl(result.folder.completed)
    assert line["status"] == "ok" and set(line["parsed"]) == {"name", "age"}
    (body,) = _sent(llmock_server, "so-json-object")
    assert body["response_format"] == fmt


@pytest.mark.integration
def test_a_model_yaml_schema_applies_to_every_prompt(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [_record(0, "openai", "x")])
    more = ("model=gpt_4o_mini", "model.output_schema=tests.structured_models:Person")
    result = run_experiment("exp", _overrides(tmp_path, *more), env=_env(llmock_server.url))
    (line,) = read_jsonl(result.folder.completed)
    assert line["status"] == "ok" and set(line["parsed"]) == {"name", "age"}
    spec = line["parameters"]["response_format"]["json_schema"]
    assert spec["name"] == "Person"
    # pydantic's schema leaves additionalProperties open: OpenAI's strict mode would refuse it.
    assert spec["strict"] is False


@pytest.mark.integration
def test_ollama_gets_format_and_its_answer_is_parsed(tmp_path: Path) -> None:
    """Ollama's native /api/chat on aimock (npm), answering the JSON of its fixture."""
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    answer = {"match": {}, "response": {"content": VALID}}
    (fixtures / "all.json").write_text(json.dumps({"fixtures": [answer]}))
    chat = [{"role": "user", "content": "a person"}]
    records = [{"id": "p0", "api": "ollama", "model_name": "llama3", "prompt": chat}]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with servers.aimock(fixtures) as server:
        more = ("output_schema=tests.structured_models:Person",)
        env = {**_env(server.url), "OLLAMA_API_ENDPOINT": server.url}
        result = run_experiment("exp", _overrides(tmp_path, *more), env=env)
        (entry,) = aimock_journal(server)  # its journal keeps a normalised body
    (line,) = read_jsonl(result.folder.completed)
    assert line["status"] == "ok" and line["parsed"] == {"name": "Ann", "age": 3}
    assert entry["path"] == "/api/chat" and int(entry["headers"]["content-length"]) > 250
    # What went: format beside options, as Ollama's /api/chat takes it.
    body = request_body("llama3", line["parameters"], messages=chat)
    assert body["format"]["required"] == ["name", "age"] and "format" not in body.get("options", {})


def test_an_experiment_yaml_sets_the_schema(tmp_path: Path) -> None:
    """``output_schema`` in conf/experiment/NAME.yaml (``@package _global_``): a run setting."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "experiment" / "people.yaml").write_text(
        "# @package _global_\n"
        "experiment:\n  file: exp.jsonl\n  name: people\n"
        "output_schema:\n  type: object\n  properties: {name: {type: string}}\n"
        "  required: [name]\n"
    )
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [_record(0, "openai", "gpt-4o-mini")])
    with plain_server(script=[(VALID, "stop")]) as server:
        result = run_experiment("people", _overrides(tmp_path), conf_dir=conf, env=_env(server.url))
        (body,) = server.requests
    (line,) = read_jsonl(result.folder.completed)
    assert line["status"] == "ok" and line["parsed"] == {"name": "Ann", "age": 3}
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["name"]
    assert body["response_format"]["json_schema"]["strict"] is False  # open object


def test_invalid_then_truncated_then_valid_is_asked_again_and_every_attempt_paid(
    tmp_path: Path,
) -> None:
    script = [("Sure! Here it is:", "stop"), ('{"name": "Ann", "ag', "length"), (VALID, "stop")]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [_record(0, "openai", "gpt-4o-mini")])
    schema = json.dumps(PERSON).replace(" ", "")
    with plain_server(script=script) as server:
        more = (f"output_schema='{schema}'", "max_attempts=3", "cache=on")
        result = run_experiment("exp", _overrides(tmp_path, *more), env=_env(server.url))
        assert len(server.requests) == 3
        assert server.requests[0]["response_format"]["json_schema"]["strict"] is True
        (line,) = read_jsonl(result.folder.completed)
        assert line["status"] == "ok" and line["attempts"] == 3
        assert line["parsed"] == {"name": "Ann", "age": 3}
        first, second = line["rejected_outputs"]
        assert "not JSON" in first["error"] and first["response"] == "Sure! Here it is:"
        assert "cut at the token limit (finish_reason length)" in second["error"]
        one = cost_of("openai", "gpt-4o-mini", 3, 3, batch=False)
        assert one is not None and first["cost_usd"] == pytest.approx(one)
        assert line["cost_usd"] == pytest.approx(3 * one, abs=1e-12)
        summary = json.loads(result.folder.meta.read_text())
        assert summary["cost"]["total_usd"] == pytest.approx(3 * one, abs=1e-6)  # rounded

        # The valid answer was cached (the invalid ones never): a rerun sends nothing.
        again = run_experiment("exp", _overrides(tmp_path, *more), env=_env(server.url))
        assert len(server.requests) == 3
        (hit,) = read_jsonl(again.folder.completed)
        assert hit["cached"] is True and hit["parsed"] == {"name": "Ann", "age": 3}


def test_always_invalid_ends_as_invalid_output_and_is_never_cached(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [_record(0, "openai", "gpt-4o-mini")])
    with plain_server(script=[('{"name": 5, "age": 3}', "stop")]) as server:
        more = ("output_schema=tests.structured_models:Person", "max_attempts=2", "cache=on")
        result = run_experiment("exp", _overrides(tmp_path, *more), env=_env(server.url))
        (line,) = read_jsonl(result.folder.completed)
        assert line["status"] == "error" and line["error_kind"] == "invalid_output"
        assert line["attempts"] == 2 and len(server.requests) == 2
        assert "does not follow the schema at $.name: 5 is not of type 'string'" in line["error"]
        assert line["parsed"] is None and len(line["rejected_outputs"]) == 1
        one = cost_of("openai", "gpt-4o-mini", 3, 3, batch=False)
        assert one is not None and line["cost_usd"] == pytest.approx(2 * one, abs=1e-12)
        run_experiment("exp", _overrides(tmp_path, *more), env=_env(server.url))
        assert len(server.requests) == 4  # nothing was cached: the rerun asked again


def test_batch_mode_sends_invalid_answers_in_the_next_batch_then_parses(tmp_path: Path) -> None:
    """The in-test OpenAI batch server: its first batch answers text, the next the JSON."""
    records = [_record(i, "openai", "gpt-4o-mini", prompt=VALID) for i in range(3)]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    more = ("mode=batch", "batch_poll_s=0.05", "output_schema=tests.structured_models:Person")
    with batch_server(["invalid-json"]) as server:
        result = run_experiment("exp", _overrides(tmp_path, *more), env=_env(server.url))
        first, second = (b["id"] for b in server.batches)
    assert server.lines_per_batch == [3, 3] and server.chat_requests == 0  # never online
    one = cost_of("openai", "gpt-4o-mini", 2, 3, batch=True)
    assert one is not None
    for line in read_jsonl(result.folder.completed):
        assert line["status"] == "ok" and line["parsed"] == {"name": "Ann", "age": 3}
        assert line["batch_id"] == second and line["attempts"] == 2
        (refused,) = line["rejected_outputs"]
        assert refused["batch_id"] == first and "not JSON" in refused["error"]
        assert line["cost_usd"] == pytest.approx(2 * one, abs=1e-12)  # both at batch price


@pytest.mark.integration
def test_batch_mode_against_llmock_ends_invalid_output_after_max_attempts(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """llmock 0.2.2's batches answer text whatever the request asks: always invalid."""
    records = [_record(i, "openai", "so-batch", output_schema=PERSON) for i in range(2)]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    more = ("mode=batch", "batch_poll_s=0.2", "max_attempts=2")
    result = run_experiment("exp", _overrides(tmp_path, *more), env=_env(llmock_server.url))
    for line in read_jsonl(result.folder.completed):
        assert line["error_kind"] == "invalid_output" and line["attempts"] == 2
        (refused,) = line["rejected_outputs"]
        assert refused["batch_id"] != line["batch_id"]  # asked again in the next batch
    bodies = [line["body"] for line in _batch_lines(llmock_server, "so-batch")]
    assert len(bodies) == 4
    assert all(b["response_format"]["json_schema"]["schema"] == PERSON for b in bodies)


def _batch_lines(server: servers.Server, model: str) -> list[dict[str, Any]]:
    """The request lines of every batch input file llmock holds for ``model``."""
    batches = get_json(f"{server.url}/v1/batches?limit=1000")["data"]
    found = []
    for batch in batches:
        raw = _get_text(f"{server.url}/v1/files/{batch['input_file_id']}/content")
        found += [x for x in map(json.loads, raw.splitlines()) if x["body"]["model"] == model]
    return found


def _get_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def test_the_local_model_answers_within_the_schema(tmp_path: Path, gemma_path: Path) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    chat = [{"role": "user", "content": "Is water wet? Answer in JSON."}]
    records: list[dict[str, Any]] = [
        {"id": "chat", "api": "local", "model_name": "gemma-3-270m", "prompt": chat},
        {"id": "text", "api": "local", "model_name": "gemma-3-270m", "prompt": "Water is wet:"},
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    more = (
        f"apis.local.model_path={gemma_path}",
        "apis.local.default_max_tokens=48",
        f"output_schema='{json.dumps(schema).replace(' ', '')}'",
        "index=false",
    )
    result = run_experiment("exp", _overrides(tmp_path, *more))
    for line in read_jsonl(result.folder.completed):
        assert line["status"] == "ok", line["error"]
        assert isinstance(line["parsed"]["ok"], bool)
        assert line["parameters"]["response_format"] == {"type": "json_object", "schema": schema}


def test_a_bad_run_schema_exits_2_naming_the_setting_and_sends_nothing(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [_record(0, "openai", "gpt-4o-mini")])
    with plain_server() as server:
        out = subprocess.run(
            runner_argv(tmp_path, "experiment=exp", f"output_schema={tmp_path}/missing.json"),
            cwd=ROOT, env=_env(server.url), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 2, out.stderr
        assert "output_schema: cannot read" in out.stderr and "missing.json" in out.stderr
        assert "Traceback" not in out.stderr
        assert server.requests == []


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("no_such_module_xyz:Person", "cannot import 'no_such_module_xyz'"),
        ("tests.structured_models:Nobody", "has no 'Nobody'"),
        ({"type": "objekt"}, "not a valid JSON Schema"),
        ("schemas/none.json", "cannot read"),
        ("just words", "is not a schema"),
        ('{"type": ', "not valid JSON"),
    ],
)
def test_a_bad_record_schema_is_refused_naming_its_line(
    tmp_path: Path, value: Any, says: str
) -> None:
    records = [_record(0, "openai", "gpt-4o-mini"), _record(1, "openai", "m", output_schema=value)]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with plain_server() as server, pytest.raises(BadInputError) as caught:
        run_experiment("exp", _overrides(tmp_path), env=_env(server.url))
    assert caught.value.exit_code == 2 and server.requests == []
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'experiments' / 'exp.jsonl'}:2: output_schema: ")
    assert says in problem


def test_anthropic_structured_output_carries_its_beta_header(tmp_path: Path) -> None:
    # https://docs.claude.com/en/docs/build-with-claude/structured-outputs: output_format is
    # taken with the structured-outputs-2025-11-13 beta header; a request without a schema
    # carries no beta header.
    records = [
        _record(0, "anthropic", "so-claude-beta", output_schema=PERSON),
        _record(1, "anthropic", "so-claude-beta"),
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with plain_server(answer=VALID) as server:
        result = run_experiment("exp", _overrides(tmp_path), env=_env(server.url))
        sent = list(zip(server.requests, server.headers, strict=True))
    lines = {line["id"]: line for line in read_jsonl(result.folder.completed)}
    assert lines["p0"]["parsed"] == json.loads(VALID)
    for body, headers in sent:
        beta = {k.lower(): v for k, v in headers.items()}.get("anthropic-beta")
        expected = "structured-outputs-2025-11-13" if "output_format" in body else None
        assert beta == expected, (body, headers)
    assert any("output_format" in body for body, _ in sent)
