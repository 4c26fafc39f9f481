"""The pre-flight check, ``python -m runner.check``, and the same refusal by the run.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_check.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner import run_experiment
from runner.check import main
from runner.errors import BadInputError
from tests.helpers import write_jsonl
from tests.providers_support import (
    PROVIDER_ENV_PREFIXES,
)


def test_usage_and_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No experiment, an unknown one, or a misspelled setting: exit 2 with a message."""
    experiments = f"experiments_dir={tmp_path}"
    assert main([]) == 2
    assert main(["experiment=nope", experiments]) == 2
    assert "No experiment 'nope'" in capsys.readouterr().err
    write_jsonl(tmp_path / "exp.jsonl", [{"api": "openai", "model_name": "m", "prompt": "x"}])
    assert main(["experiment=exp", experiments, "max_qeuries=5"]) == 2
    assert "configuration is invalid" in capsys.readouterr().err


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(PROVIDER_ENV_PREFIXES):
            monkeypatch.delenv(name)


def test_invalid_json_lines_are_listed_with_the_rest_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unreadable lines are problems like any other: all of them, with their lines."""
    _clean_env(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    good = json.dumps({"api": "openai", "model_name": "m", "prompt": "x"})
    lines = [good, '{"api": "openai", "prompt": ', good, "not json", "{'single': 1}", "[1, 2]"]
    lines.append(json.dumps({"prompt": "no api"}))
    path = tmp_path / "exp.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["experiment=exp", f"experiments_dir={tmp_path}"]) == 2
    out = capsys.readouterr().out
    assert "5 problem(s)" in out
    for line, fragment in [
        (2, "not valid JSON"),
        (4, "not valid JSON"),
        (5, "not valid JSON"),
        (6, "must be a JSON object, got list"),
        (7, "missing field 'api'"),
    ]:
        assert any(f"exp.jsonl:{line}: " in r and fragment in r for r in out.splitlines()), line
    # The run lists the same problems before sending anything.
    with pytest.raises(BadInputError) as refused:
        run_experiment("exp", [f"experiments_dir={tmp_path}", "index=false"])
    assert [p.split("exp.jsonl:", 1)[1][:2] for p in refused.value.problems] == [
        "2:",
        "4:",
        "5:",
        "6:",
        "7:",
    ]


def test_problem_listing_stops_at_100_then_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _clean_env(monkeypatch)
    (tmp_path / "exp.jsonl").write_text("oops\n" * 150, encoding="utf-8")
    assert main(["experiment=exp", f"experiments_dir={tmp_path}"]) == 2
    out = capsys.readouterr().out
    assert "150 problem(s)" in out and "exp.jsonl:100: not valid JSON" in out
    assert "exp.jsonl:101:" not in out and "... and 50 more problem(s)" in out
    with pytest.raises(BadInputError) as refused:
        run_experiment("exp", [f"experiments_dir={tmp_path}", "index=false"])
    assert "exp.jsonl:100: not valid JSON" in str(refused.value)
    assert "... and 50 more problem(s)" in str(refused.value)


# api -> (model_name, the variables the code reads for it)
MODEL_VARIABLES = {
    "openai": ("gpt-4o-mini", ["OPENAI_API_KEY_gpt_4o_mini"]),
    "anthropic": ("claude-3.5-haiku", ["ANTHROPIC_API_KEY_claude_3_5_haiku"]),
    "gemini": ("gemini-2.0-flash", ["GEMINI_API_KEY_gemini_2_0_flash"]),
    "ollama": ("llama3.2:1b", ["OLLAMA_API_ENDPOINT_llama3_2_1b"]),
    "azure-openai": (
        "my-deploy",
        ["AZURE_OPENAI_API_KEY_my_deploy", "AZURE_OPENAI_API_ENDPOINT_my_deploy"],
    ),
    "huggingface-tgi": ("tgi-1", ["HUGGINGFACE_TGI_API_ENDPOINT_tgi_1"]),
}


def test_missing_key_messages_name_the_variable_the_code_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _clean_env(monkeypatch)
    records = [{"api": a, "model_name": m, "prompt": "x"} for a, (m, _) in MODEL_VARIABLES.items()]
    write_jsonl(tmp_path / "exp.jsonl", records)
    args = ["experiment=exp", f"experiments_dir={tmp_path}"]
    assert main(args) == 2
    out = capsys.readouterr().out
    for model, variables in MODEL_VARIABLES.values():
        for variable in variables:
            assert variable in out, variable
        assert f"_{model}" not in out  # the name as written, which the code never reads
    # Setting exactly those variables clears every problem.
    for _model, variables in MODEL_VARIABLES.values():
        for variable in variables:
            value = "http://127.0.0.1:9" if "ENDPOINT" in variable else "k"
            monkeypatch.setenv(variable, value)
    assert main(args) == 0, capsys.readouterr()
