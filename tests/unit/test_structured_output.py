"""Structured output (``output_schema``): schemas, native forms and the json scorer.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_structured_output.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from runner.errors import ConfigError
from runner.prompts.output_check import check_answer, sent_schema
from runner.prompts.output_schema import fits_strict, native_parameters
from runner.prompts.records import PromptRecord
from tests.helpers import write_jsonl
from tests.providers_support import PROVIDER_ENV_PREFIXES

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


VALID = '{"name": "Ann", "age": 3}'


def _overrides(tmp_path: Path, *more: str) -> list[str]:
    return [
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"limits_dir={tmp_path / 'limits'}",
        "max_queries=6000",
        "progress=off",
        *more,
    ]


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_ENV_PREFIXES)}
    env.update(
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=f"{url}/v1",
        ANTHROPIC_API_KEY="test-key",
        ANTHROPIC_BASE_URL=f"{url}/anthropic",
        GEMINI_API_KEY="test-key",
        GEMINI_BASE_URL=f"{url}/gemini/v1beta",
    )
    return env


def _record(i: int, api: str, model: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"p{i}", "api": api, "model_name": model, "prompt": f"a person {i}",
            "parameters": {"max_tokens": 64}, **extra}  # fmt: skip


def test_a_bad_model_schema_names_the_model_setting(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [_record(0, "openai", "x")])
    more = ("model=gpt_4o_mini", "model.output_schema=tests.structured_models:Nobody")
    with pytest.raises(ConfigError, match=r"^model\.output_schema: .*has no 'Nobody'"):
        run_experiment("exp", _overrides(tmp_path, *more), env=_env("http://127.0.0.1:9"))


def test_native_forms_round_trip_to_the_checked_schema() -> None:
    apis = ["openai", "azure-openai", "anthropic", "gemini", "vertexai", "ollama", "local"]
    apis.append("huggingface-tgi")
    for api in apis:
        params = native_parameters(api, PERSON)
        record = PromptRecord({"api": api, "prompt": "p", "parameters": params})
        assert sent_schema(record) == PERSON, api
    assert native_parameters("ollama", PERSON) == {"format": PERSON}
    tgi = native_parameters("huggingface-tgi", PERSON)["response_format"]
    assert tgi == {"type": "json_object", "value": PERSON}
    assert fits_strict(PERSON) and fits_strict({"type": "array", "items": PERSON})
    assert not fits_strict({"type": "array", "items": {**PERSON, "required": ["name"]}})
    assert not fits_strict({"$defs": {"P": {"type": "object", "properties": {}}}})
    assert native_parameters("local", PERSON)["response_format"]["type"] == "json_object"
    plain = PromptRecord({"api": "ollama", "prompt": "p", "parameters": {"format": "json"}})
    assert sent_schema(plain) is None
    assert check_answer(["{}", VALID], "stop", PERSON) == {"name": "Ann", "age": 3}
    with pytest.raises(ValueError, match=r"at \$: 'age' is a required property"):
        check_answer('{"name": "Ann"}', "end_turn", PERSON)
    with pytest.raises(ValueError, match="finish_reason MAX_TOKENS"):
        check_answer(VALID, "MAX_TOKENS", PERSON)


def test_the_json_scorer_uses_jsonschema_and_refuses_a_bad_schema_up_front() -> None:
    from runner.evaluation import scorers

    line = {"response": '{"name": "Ann", "age": "3"}'}
    wrong = scorers.valid_json(line, PERSON)
    assert wrong == {"score": False, "reason": "$.age: '3' is not of type 'integer'"}
    # A keyword the old hand-written subset ignored: pattern.
    coded = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[0-9]+$"}}}
    assert scorers.valid_json({"response": '{"code": "x1"}'}, coded)["score"] is False
    check = scorers.BUILTINS["json"].check
    (problem,) = check({"schema": {"type": "objekt"}})
    assert problem.startswith("params.schema is not a valid JSON Schema: ")
    assert check({"schema": PERSON}) == []
