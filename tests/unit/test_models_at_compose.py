"""Judge and rephrase models are resolved when the config is composed (issue 13.7).

They are choices of Hydra's ``model`` group under the step; configs are composed in-process
as the command line would (lightning-hydra-template style).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from runner.config import CONF_DIR, compose_config, to_settings
from runner.config.models import as_choices
from runner.config.resumed import resumed_config
from runner.config.schema import ModelConfig
from runner.config.settings import redacted_container
from runner.config.setup import quote_plain_values
from runner.errors import ConfigError
from tests.helpers import write_jsonl

RUNNER = Path(__file__).resolve().parents[2] / "runner"
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


CHOICES = "choices: gemma_local, gemma_local_greedy, gpt_4_1_nano, gpt_4o_mini"


@pytest.fixture
def cfg_judge(tmp_path: Path) -> DictConfig:
    """A judge step and a rephrasing, composed as a run composes them."""
    overrides = [*_experiments(tmp_path), "evaluation=judge_correctness", "rephrase=paraphrase"]
    return compose_config(overrides)


def _project_model(name: str) -> ModelConfig:
    loaded = OmegaConf.merge(
        OmegaConf.structured(ModelConfig), OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml")
    )
    model = OmegaConf.to_object(loaded)
    assert isinstance(model, ModelConfig)
    return model


def test_step_files_choose_their_model_in_the_defaults_list(cfg_judge: DictConfig) -> None:
    for group in ("evaluation", "rephrase"):
        for path in (CONF_DIR / group).glob("*.yaml"):
            data = OmegaConf.load(path)
            assert isinstance(data, DictConfig)
            steps = [data] if group == "rephrase" else [data[k] for k in data if k != "defaults"]
            assert all("model" not in step for step in steps), path  # a choice, not a key
    settings = to_settings(cfg_judge)
    judge = settings.evaluation["correctness"]
    assert (judge.model, judge.model_config) == ("gpt_4o_mini", _project_model("gpt_4o_mini"))
    assert settings.rephrase is not None
    assert settings.rephrase.model == "gemma_local"
    assert settings.rephrase.model_config == _project_model("gemma_local")


@pytest.mark.parametrize(
    ("typed", "hydra_form"),
    [
        ("evaluation.correctness.model=gemma_local",
         "model@evaluation.correctness.model_config=gemma_local"),
        ("rephrase.model=gpt_4_1_nano", "model@rephrase.model_config=gpt_4_1_nano"),
    ],
)  # fmt: skip
def test_both_command_line_spellings_choose_the_model(
    tmp_path: Path, typed: str, hydra_form: str
) -> None:
    base = [*_experiments(tmp_path), "evaluation=judge_correctness", "rephrase=paraphrase"]
    assert as_choices([typed]) == [hydra_form]
    one, other = (to_settings(compose_config([*base, o])) for o in (typed, hydra_form))
    assert one == other
    name = typed.partition("=")[2]
    step = one.rephrase if typed.startswith("rephrase") else one.evaluation["correctness"]
    assert step is not None and (step.model, step.model_config) == (name, _project_model(name))


def test_a_sweep_over_judge_models_is_a_sweep_over_the_group() -> None:
    assert as_choices(["evaluation.correctness.model=gemma_local,gpt_4o_mini"]) == [
        "model@evaluation.correctness.model_config=gemma_local,gpt_4o_mini"
    ]
    assert as_choices(["evaluation.correctness.model_config.parameters.seed=1"]) == [
        "evaluation.correctness.model_config.parameters.seed=1"
    ]
    # A model named 401 is the file 401.yaml, as experiment=401 is 401.jsonl.
    assert quote_plain_values(as_choices(["rephrase.model=401"])) == [
        "model@rephrase.model_config='401'"
    ]


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ("evaluation.correctness.model=gpt_4o_mnii", "evaluation.correctness.model"),
        ("model@evaluation.correctness.model_config=gpt_4o_mnii", "evaluation.correctness.model"),
        ("rephrase.model=gpt_4o_mnii", "rephrase.model"),
        ("evaluation.correctness.model=gemma_local,gpt_4o_mnii", "evaluation.correctness.model"),
    ],
)
def test_a_misspelled_model_names_the_choices(tmp_path: Path, override: str, where: str) -> None:
    base = [*_experiments(tmp_path), "evaluation=judge_correctness", "rephrase=paraphrase"]
    with pytest.raises(ConfigError, match=rf"{where}: no model 'gpt_4o_mnii'; {CHOICES}") as info:
        compose_config([*base, override])
    assert info.value.exit_code == 2


def test_the_run_names_the_choices_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import runner.__main__ as entry

    args = [*_experiments(tmp_path), f"outputs_dir={tmp_path / 'out'}", "progress=off"]
    args += ["evaluation=judge_helpfulness", "evaluation.helpfulness.model=gemma_locl"]
    assert entry.main(args) == 2
    err = capsys.readouterr().err
    assert f"evaluation.helpfulness.model: no model 'gemma_locl'; {CHOICES}" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_the_users_conf_comes_first_on_hydras_search_path(tmp_path: Path) -> None:
    """A conf/ beside the experiments: its models win, its step files are options."""
    user = tmp_path / "conf"
    (user / "model").mkdir(parents=True)
    (user / "evaluation").mkdir()
    (user / "model" / "gpt_4o_mini.yaml").write_text("api: openai\nmodel_name: my-4o\n")
    (user / "evaluation" / "mine.yaml").write_text(
        "defaults: [/model@graded.model_config: gpt_4_1_nano]\n"
        "graded: {scorer: judge, template: 'Rate {OUTPUT_RESPONSE}'}\n"
    )
    overrides = [*_experiments(tmp_path), "evaluation=[judge_correctness,mine]"]
    settings = to_settings(compose_config(overrides))
    assert settings.evaluation["correctness"].model_config == ModelConfig("openai", "my-4o")
    graded = settings.evaluation["graded"]
    assert (graded.model, graded.model_config) == ("gpt_4_1_nano", _project_model("gpt_4_1_nano"))
    settings = to_settings(compose_config([*overrides, "evaluation.graded.model=gpt_4o_mini"]))
    assert settings.evaluation["graded"].model_config == ModelConfig("openai", "my-4o")


def test_a_step_that_names_its_model_as_a_key_is_told_how_to_choose_it(tmp_path: Path) -> None:
    (tmp_path / "conf" / "evaluation").mkdir(parents=True)
    (tmp_path / "conf" / "evaluation" / "old.yaml").write_text(
        "graded: {scorer: judge, model: gpt_4o_mini, template: 'Rate {OUTPUT_RESPONSE}'}\n"
    )
    with pytest.raises(ConfigError, match=r"\[/model@graded\.model_config: gpt_4o_mini\]"):
        compose_config([*_experiments(tmp_path), "evaluation=old"])


def test_a_resume_keeps_the_runs_judge_unless_chosen_anew(cfg_judge: DictConfig) -> None:
    original = redacted_container(cfg_judge)
    runs_own = ModelConfig("openai", "the-runs-own", {"seed": 1})
    saved = {"api": "openai", "model_name": "the-runs-own", "parameters": {"seed": 1}}
    original["evaluation"]["correctness"]["model_config"] = saved
    original["rephrase"]["model_config"] = saved
    kept, changed = resumed_config(cfg_judge, [], original)
    settings = to_settings(kept)
    step = settings.evaluation["correctness"]
    # Exactly the run's own model: no parameter today's conf/model/ YAML adds.
    assert (step.model, step.model_config) == ("gpt_4o_mini", runs_own)
    assert settings.rephrase is not None
    assert settings.rephrase.model_config == runs_own
    assert changed == {}  # the run's own judge, though conf/model/ says otherwise now
    for override in (
        as_choices(["evaluation.correctness.model=gemma_local"]),
        ["model@evaluation.correctness.model_config=gemma_local"],
    ):
        now = compose_config([*_cfg_overrides(cfg_judge), *override])
        kept, changed = resumed_config(now, override, original)
        step = to_settings(kept).evaluation["correctness"]
        assert (step.model, step.model_config) == ("gemma_local", _project_model("gemma_local"))
        assert changed["evaluation.correctness.model"] == ["gpt_4o_mini", "gemma_local"]


def _cfg_overrides(cfg: DictConfig) -> list[str]:
    return [
        f"experiment={Path(cfg.experiment.file).stem}",
        f"experiments_dir={cfg.experiments_dir}",
        "evaluation=judge_correctness",
        "rephrase=paraphrase",
    ]


def test_help_and_the_run_mode_look_in_the_users_conf_too(tmp_path: Path) -> None:

    from runner.config import prepare_hydra
    from runner.config.help import group_options
    from runner.config.run_mode import is_plain_run, run_once
    from runner.config.search_path import config_dirs, user_config_dirs

    overrides = [*_experiments(tmp_path), f"outputs_dir={tmp_path / 'out'}"]
    prepare_hydra(overrides)
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "mine.yaml").write_text("api: openai\nmodel_name: m\n")
    (tmp_path / "conf" / "experiment").mkdir()
    (tmp_path / "conf" / "experiment" / "swept.yaml").write_text(
        "# @package _global_\nexperiment: {file: exp.jsonl}\n"
        "hydra: {mode: MULTIRUN, sweeper: {params: {max_queries: '3,4'}}}\n"
    )
    dirs = config_dirs(user_config_dirs(tmp_path / "experiments", CONF_DIR), CONF_DIR)
    assert "mine" in group_options(dirs, tmp_path / "experiments")["model"]
    overrides = [*overrides[1:], "experiment=swept"]
    prepare_hydra(overrides)
    assert is_plain_run(overrides)  # the composed config, not the YAML's text, says sweep
    ran: list[int] = []

    def task(cfg: DictConfig) -> int:
        ran.append(int(cfg.max_queries))
        return 0

    assert run_once(overrides, task, on_sweep=lambda jobs: 10 + len(jobs)) == 12
    assert ran == [3, 4]
