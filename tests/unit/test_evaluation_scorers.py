"""Scorers, templates, verdicts and the up-front checks of an evaluation (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.config import compose_config, to_settings
from runner.config.schema import EvaluationStepConfig, ModelConfig, RunConfig
from runner.errors import BadInputError
from runner.evaluation import EvaluationRun, scorers
from runner.evaluation import judge as judging
from tests.helpers import read_jsonl


def word_count_at_least(line: dict[str, Any], n: int = 1) -> dict[str, Any]:
    """A custom scorer: two fields from one function."""
    words = len(str(line["response"]).split())
    return {"words": words, "score": words >= n}


def always_fails(line: dict[str, Any]) -> float:
    """A custom scorer that raises, to show its error stays in its own step."""
    raise ZeroDivisionError("boom")


def _line(response: Any, **extra: Any) -> dict[str, Any]:
    return {"prompt": "Q?", "response": response, "status": "ok", "prompt_key": "k", **extra}


def test_builtin_scorers() -> None:
    line = _line("  Paris \n", expected_response="Paris")
    assert scorers.exact_match(line) == {"score": False}  # prompto's exact comparison
    assert scorers.exact_match(line, strip=True) == {"score": True}
    with pytest.raises(ValueError, match="no 'e'"):
        scorers.includes(_line("It is paris."), expected_key="e")
    assert scorers.includes(_line("It is paris.", expected_response="Paris")) == {"score": False}
    assert scorers.includes(
        _line("It is paris.", expected_response="Paris"), case_sensitive=False
    ) == {"score": True}
    assert scorers.regex(_line("Answer: 42"), r"Answer:\s*(\d+)") == {"score": True, "match": "42"}
    assert scorers.regex(_line("no"), "yes") == {"score": False, "match": None}
    assert scorers.numeric(_line("about 3,141.7 m", expected_response="3141.6"), rel_tol=0.01)[
        "score"
    ]
    assert scorers.numeric(_line("none", expected_response=1))["value"] is None
    assert scorers.length(_line("a b c"), unit="words", max=2) == {"length": 3, "score": False}
    assert scorers.length(_line(["turn one", "x"])) == {"length": 1}  # the last reply


def test_json_scorer_with_schema() -> None:
    schema = {
        "type": "object",
        "required": ["answer"],
        "properties": {"answer": {"type": "string"}},
    }
    fenced = _line('Here:\n```json\n{"answer": "yes"}\n```')
    assert scorers.valid_json(fenced, schema) == {"score": True, "reason": None}
    wrong = scorers.valid_json(_line('{"answer": 3}'), schema)
    assert wrong["score"] is False and "answer" in wrong["reason"]
    assert scorers.valid_json(_line("not json"))["score"] is False


def test_template_rendering_and_keys() -> None:
    template = 'Q: {INPUT_PROMPT}\nA: {OUTPUT_RESPONSE}\nRef: {EXPECTED_RESPONSE} {topic} {"x": 1}'
    line = _line(["a", "final"], prompt=["hi", "and?"], expected_response="ref", topic="geo")
    assert judging.render(template, line) == 'Q: hi\nand?\nA: final\nRef: ref geo {"x": 1}'
    assert judging.needed_keys(template) == ["expected_response", "topic"]
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert judging.prompt_text(chat) == "system: Be brief.\nuser: Hi"


@pytest.mark.parametrize(
    ("text", "config", "expected"),
    [
        ("Well... Score: 4. Good.", EvaluationStepConfig(scorer="judge"), {"score": 4.0}),
        ("score = 2.5", EvaluationStepConfig(scorer="judge"), {"score": 2.5}),
        (
            "The answer is incorrect.",
            EvaluationStepConfig(scorer="judge", verdict="label", labels=["CORRECT", "INCORRECT"]),
            {"label": "INCORRECT"},
        ),
        (
            "[[7]] out of 10",
            EvaluationStepConfig(scorer="judge", pattern=r"\[\[(\d+)\]\]"),
            {"score": 7.0},
        ),
    ],
)
def test_verdicts(text: str, config: EvaluationStepConfig, expected: dict[str, Any]) -> None:
    assert judging.parse_verdict(text, config, judging.verdict_pattern(config)) == expected


def test_unreadable_verdict_is_an_error() -> None:
    config = EvaluationStepConfig(scorer="judge")
    with pytest.raises(judging.VerdictError, match="no verdict"):
        judging.parse_verdict("I like it a lot", config, judging.verdict_pattern(config))


def _settings(tmp_path: Path, steps: dict[str, EvaluationStepConfig]) -> RunConfig:
    settings = to_settings(compose_config(["experiment.file=x.jsonl", "index=false"]))
    settings.evaluation = steps
    settings.outputs_dir = str(tmp_path)
    return settings


def test_scoring_writes_one_line_per_field_and_keeps_errors_per_step(tmp_path: Path) -> None:
    steps = {
        "match": EvaluationStepConfig(scorer="exact_match"),
        "words": EvaluationStepConfig(
            scorer="custom", function=f"{__name__}.word_count_at_least", params={"n": 2}
        ),
        "broken": EvaluationStepConfig(scorer="custom", function=f"{__name__}:always_fails"),
    }
    evaluation = EvaluationRun.create(_settings(tmp_path, steps), tmp_path / "run1")
    evaluation.on_result(_line("Paris", expected_response="Paris", run_id="run1"))
    evaluation.on_result(_line(None, status="error", run_id="run1"))  # not scored
    evaluation.close()
    rows = read_jsonl(tmp_path / "run1" / "evaluations.jsonl")
    assert [(r["step"], r["field"], r["value"]) for r in rows] == [
        ("match", "score", True),
        ("words", "words", 1),
        ("words", "score", False),
        ("broken", "error", "ZeroDivisionError: boom"),
    ]
    assert {r["run_id"] for r in rows} == {"run1"} and evaluation.errors == 1


def test_bad_steps_are_all_named_before_anything_runs(tmp_path: Path) -> None:
    steps = {
        "a": EvaluationStepConfig(scorer="exact_matsh"),
        "b": EvaluationStepConfig(scorer="custom", function="no_such_module.fn"),
        "c": EvaluationStepConfig(scorer="custom", function=f"{__name__}.missing_function"),
        "d": EvaluationStepConfig(scorer="judge", model="no_such_model", template="{X}"),
        "e": EvaluationStepConfig(scorer="regex", params={"pattern": "("}),
        "f": EvaluationStepConfig(scorer="length", params={"units": "words"}),
    }
    with pytest.raises(BadInputError) as info:
        EvaluationRun.create(_settings(tmp_path, steps), tmp_path / "r")
    message = str(info.value)
    assert info.value.exit_code == 2 and len(info.value.problems) == 6
    for needle in (
        "unknown scorer 'exact_matsh'",
        "cannot import 'no_such_module'",
        "has no 'missing_function'",
        "no model 'no_such_model'",
        "not a valid regular expression",
        "unexpected keyword argument 'units'",
    ):
        assert needle in message
    assert not (tmp_path / "r").exists()


_OLLAMA = {"OLLAMA_API_ENDPOINT": "http://127.0.0.1:9"}  # a judge's endpoint: nothing is sent


def test_keys_the_records_lack_are_named(tmp_path: Path) -> None:
    steps = {
        "match": EvaluationStepConfig(scorer="exact_match"),
        "judge": EvaluationStepConfig(
            scorer="judge",
            # Any judge: a hosted one needs no extra installed (local needs llama.cpp).
            model="ollama_judge",
            model_config=ModelConfig("ollama", "llama3.2"),
            template="{OUTPUT_RESPONSE} about {topic}",
        ),
    }
    settings = _settings(tmp_path, steps)
    lines = [_line("x", expected_response="x", topic="t", line=1), _line("y", line=2)]
    with pytest.raises(BadInputError) as info:
        EvaluationRun.create(settings, tmp_path / "r", records=lines, env=_OLLAMA)
    assert len(info.value.problems) == 2
    assert "'expected_response', which 1 of 2 record(s) lack" in str(info.value)
    assert "'topic'" in str(info.value)
