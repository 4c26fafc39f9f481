"""Every file in conf/ composes in-process; misspelled keys and bad values fail early."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from runner.config import CONF_DIR, compose_config, to_settings
from runner.config.checks import SECONDS_SETTINGS, check_values
from runner.config.schema import RunConfig
from runner.errors import BadInputError, ConfigError

GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra")


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in _options(g)])
def test_every_config_file_composes(group: str, option: str) -> None:
    # API files are mounted at apis.<name> by the defaults list; select each explicitly.
    overrides = [f"api@apis.{option}={option}" if group == "api" else f"{group}={option}"]
    if group != "experiment":
        overrides.append("experiment=demo")
    cfg = compose_config(overrides)
    settings = to_settings(cfg)
    assert isinstance(settings, RunConfig)


def test_a_plain_experiment_file_needs_no_yaml(tmp_path: Path) -> None:
    (tmp_path / "plain.csv").write_text("prompt,api\nhi,openai\n")
    cfg = compose_config(["experiment=plain", f"experiments_dir={tmp_path}"])
    assert cfg.experiment.file == "plain.csv"
    assert cfg.experiment.name == "plain"


def test_model_choice_is_typed() -> None:
    settings = to_settings(compose_config(["experiment=demo", "model=gemma_local"]))
    assert settings.model is not None
    assert settings.model.api == "local"


def test_misspelled_key_fails_at_compose() -> None:
    with pytest.raises(ConfigError, match="max_queris"):
        compose_config(["experiment=demo", "max_queris=3"])


@pytest.mark.parametrize(
    ("override", "closest"),
    [
        ("+max_querys=3", "max_queries"),
        ("++max_querys=3", "max_queries"),
        ("max_querys=3", "max_queries"),
        ("+apis.locl.n_ctx=9", "apis.local.n_ctx"),
        ("+apis.local.n_ctxx=9", "apis.local.n_ctx"),
        ("~timeout", "timeout_s"),
    ],
)
def test_plus_is_no_back_door_around_the_schema(override: str, closest: str) -> None:
    """Hydra's ``+`` would add any key; runner refuses it as it refuses a misspelling."""
    with pytest.raises(ConfigError) as refused:
        compose_config(["experiment=demo", override])
    key = override.lstrip("+~").partition("=")[0]
    assert f"{key} is not a runner setting" in str(refused.value)
    assert f"did you mean {closest}?" in str(refused.value)
    assert "To append" not in str(refused.value)


def test_a_step_no_evaluation_file_defines_is_refused_without_hydras_hint() -> None:
    for override in ("evaluation.mtach.scorer=exact_match", "+evaluation.mtach.scorer=x"):
        with pytest.raises(ConfigError) as refused:
            compose_config(["experiment=demo", override])
        assert "'mtach', which no conf/evaluation/*.yaml defines" in str(refused.value)
        assert "match" in str(refused.value) and "To append" not in str(refused.value)


def test_keys_inside_free_form_maps_and_steps_are_accepted() -> None:
    cfg = compose_config(
        [
            "experiment=demo",
            "+max_queries_dict.openai=30",
            "evaluation=match",
            "+evaluation.match.params.case_sensitive=true",
            "apis.local.n_ctx=512",
            "hydra.job.chdir=false",
        ]
    )
    settings = to_settings(cfg)
    assert settings.max_queries_dict == {"openai": 30}
    assert settings.evaluation["match"].params["case_sensitive"] is True


def test_wrong_type_fails_at_compose() -> None:
    # Refused before Hydra composes, in one line naming what the setting takes.
    with pytest.raises(ConfigError, match="max_queries=lots: max_queries takes a number"):
        compose_config(["experiment=demo", "max_queries=lots"])


@pytest.mark.parametrize(
    "override",
    [
        "max_queries=0",
        "max_queries=-5",
        "max_queries_dict={openai: 0}",
        "max_attempts=0",
        "max_queries_dict={openai: {gpt: -1}}",
    ],
)
def test_invalid_limits_are_config_errors(override: str) -> None:
    cfg = compose_config(["experiment=demo", override])
    with pytest.raises(ConfigError):
        to_settings(cfg)


@pytest.mark.parametrize("name", SECONDS_SETTINGS)
def test_a_duration_must_be_finite(name: str) -> None:
    """``timeout_s=inf`` failed every request ("cannot convert float infinity to integer")."""
    settings = RunConfig()
    setattr(settings, name, float("inf"))
    with pytest.raises(ConfigError, match=f"{name} must be a finite number of seconds"):
        check_values(settings)


def test_literal_api_key_is_refused_but_env_reference_is_fine() -> None:
    cfg = compose_config(["experiment=demo", "apis.openai.api_key=sk-secret"])
    with pytest.raises(ConfigError, match="never stores keys"):
        to_settings(cfg)
    cfg = compose_config(["experiment=demo", "apis.openai.api_key=${oc.env:NOT_SET_VAR,x}"])
    assert to_settings(cfg).apis.openai.api_key == "x"
    assert "sk-" not in OmegaConf.to_yaml(cfg)


def test_unknown_experiment_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BadInputError, match=r"must end in \.jsonl or \.csv"):
        compose_config(["experiment=notes", f"experiments_dir={tmp_path}"])
    with pytest.raises(BadInputError, match="No experiment 'ghost'"):
        compose_config(["experiment=ghost", f"experiments_dir={tmp_path}"])


def test_limits_dict_is_settable_from_the_command_line() -> None:
    cfg = compose_config(["experiment=demo", "max_queries_dict={openai: 5, g: {default: 3, m: 2}}"])
    assert to_settings(cfg).max_queries_dict == {"openai": 5, "g": {"default": 3, "m": 2}}
