"""Judge and rephrase models are resolved when the config is composed (issue 13.7)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runner.config import compose_config, to_settings
from runner.config.schema import ModelConfig
from runner.errors import ConfigError
from tests.conftest import write_jsonl

RUNNER = Path(__file__).resolve().parents[1] / "runner"
# Where a config folder may still be named: composing (runner/config), the command lines
# and the Python API that compose.
BOUNDARY = ("config/", "cli.py", "api.py", "evaluate.py")


def _experiments(tmp_path: Path) -> list[str]:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [{"api": "openai", "prompt": "x"}])
    return ["experiment=exp", f"experiments_dir={tmp_path / 'experiments'}"]


def test_a_judge_step_holds_its_typed_model(tmp_path: Path) -> None:
    cfg = compose_config([*_experiments(tmp_path), "evaluation=judge_correctness"])
    step = to_settings(cfg).evaluation["correctness"]
    assert step.model == "gpt_4o_mini"
    assert isinstance(step.model_config, ModelConfig)
    assert (step.model_config.api, step.model_config.model_name) == ("openai", "gpt-4o-mini")
    assert step.model_config.parameters == {"max_tokens": 512}


def test_a_model_beside_the_experiments_is_chosen_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "mine.yaml").write_text("api: openai\nmodel_name: my-judge\n")
    overrides = [*_experiments(tmp_path), "evaluation=judge_correctness", "rephrase=paraphrase"]
    settings = to_settings(
        compose_config([*overrides, "evaluation.correctness.model=mine", "rephrase.model=mine"])
    )
    assert settings.evaluation["correctness"].model_config == ModelConfig("openai", "my-judge")
    assert settings.rephrase is not None
    assert settings.rephrase.model_config == ModelConfig("openai", "my-judge")


def test_an_unknown_model_is_bad_config_at_compose_time(tmp_path: Path) -> None:
    overrides = [*_experiments(tmp_path), "evaluation=judge_correctness"]
    with pytest.raises(ConfigError, match=r"evaluation\.correctness\.model: no model 'nobody'"):
        compose_config([*overrides, "evaluation.correctness.model=nobody"])


def test_the_run_resolves_them_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import runner.__main__ as entry

    args = [*_experiments(tmp_path), f"outputs_dir={tmp_path / 'out'}", "progress=off"]
    args += ["evaluation=judge_correctness", "evaluation.correctness.model=nobody"]
    assert entry.main(args) == 2
    assert "evaluation.correctness.model: no model 'nobody'" in capsys.readouterr().err


def _params(node: ast.AST) -> list[str]:
    return [
        a.arg
        for f in ast.walk(node)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        for a in [*f.args.args, *f.args.kwonlyargs]
    ]


def test_no_config_folder_is_passed_below_the_command_line() -> None:
    found = sorted(
        str(path.relative_to(RUNNER))
        for path in RUNNER.rglob("*.py")
        if not str(path.relative_to(RUNNER)).startswith(BOUNDARY)
        and "conf_dir" in _params(ast.parse(path.read_text(encoding="utf-8")))
    )
    assert found == []
