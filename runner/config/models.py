"""Judge and rephrase models: choices of Hydra's ``model`` group, used under the step.

A judge step's file chooses its model in its defaults list, and Hydra composes
``conf/model/NAME.yaml`` under the step as a typed :class:`ModelConfig`::

    # conf/evaluation/judge_correctness.yaml
    defaults:
      - /model@correctness.model_config: gpt_4o_mini   # -> evaluation.correctness.model_config

A rephrasing does the same (``- /model@model_config: gemma_local``). On the command line a
user types ``evaluation.<step>.model=NAME`` or ``rephrase.model=NAME``: :func:`as_choices`
spells it as Hydra's own group override (``model@evaluation.<step>.model_config=NAME``,
which works too). After composing, each step's ``model`` holds the name Hydra chose, for
messages and the run's record. Nothing below the command line looks for config folders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from omegaconf import DictConfig

from runner.config.overrides import override_values
from runner.errors import ConfigError

GROUP = "model"


def _step_path(key: str) -> str | None:
    """``evaluation.<step>`` or ``rephrase`` for a key that names its model, else None."""
    parts = key.split(".")
    if parts == ["rephrase", "model"]:
        return "rephrase"
    if len(parts) == 3 and parts[0] == "evaluation" and parts[2] == "model":
        return ".".join(parts[:2])
    return None


def choice_key(step_path: str) -> str:
    """Hydra's key for the model chosen under a step (``model@rephrase.model_config``)."""
    return f"{GROUP}@{step_path}.model_config"


def as_choices(overrides: Sequence[str]) -> list[str]:
    """The overrides with ``<step>.model=NAME`` as Hydra's group override of that step."""
    spelled = []
    for item in overrides:
        prefix = item[: len(item) - len(item.lstrip("+~"))]
        key, sep, value = item[len(prefix) :].partition("=")
        step = _step_path(key.strip())
        if step is not None and (sep or prefix == "~"):
            item = f"{prefix}{choice_key(step)}{sep}{value}"
        spelled.append(item)
    return spelled


def model_options(dirs: Sequence[Path]) -> list[str]:
    """The model names the config folders offer (``conf/model/*.yaml``)."""
    return sorted({p.stem for d in dirs for p in (d / GROUP).glob("*.yaml")})


def _where(key: str) -> str:
    """The key as the user types it: ``evaluation.correctness.model`` for Hydra's spelling."""
    path = key.partition("@")[2]
    return path.removesuffix(".model_config") + ".model" if path else key


def check_model_choices(overrides: Sequence[str], dirs: Sequence[Path]) -> None:
    """Refuse a model named on the command line that no config folder has.

    Hydra would refuse it too, in several lines that list its search path; this says it in
    one, naming the choices, before anything is composed.

    Raises:
        ConfigError: ``model=``, ``<step>.model=`` (or Hydra's spelling) naming no model.
    """
    spelled = as_choices(overrides)
    keys = {item.lstrip("+~").partition("=")[0].strip() for item in spelled if "=" in item}
    options = model_options(dirs)
    for key in sorted(k for k in keys if k == GROUP or k.startswith(f"{GROUP}@")):
        for name in override_values(spelled, key):
            if name in options or name in ("null", "None", ""):
                continue
            looked = ", ".join(str(d / GROUP) for d in dirs)
            raise ConfigError(
                f"{_where(key)}: no model {name!r}; choices: {', '.join(options)} "
                f"(the *.yaml files in {looked})"
            )


def name_models(cfg: DictConfig, choices: Mapping[str, object]) -> DictConfig:
    """``cfg`` with each judge's and the rephraser's ``model`` set to the model Hydra chose.

    Raises:
        ConfigError: a step that names a model in its own keys (``model: NAME``) instead of
            choosing it in its file's defaults list.
    """
    steps = [(f"evaluation.{name}", step) for name, step in (cfg.get("evaluation") or {}).items()]
    if cfg.get("rephrase") is not None:
        steps.append(("rephrase", cfg.rephrase))
    for path, step in steps:
        chosen = choices.get(choice_key(path))
        if chosen is not None:
            step.model = str(chosen)
        elif step.get("model") and step.get("model_config") is None:
            under = path.removeprefix("evaluation.").removeprefix("rephrase")
            entry = f"/{GROUP}@{under + '.' if under else ''}model_config"
            raise ConfigError(
                f"{path}.model: {step.model} names a model its file does not choose; choose "
                f"it in the file's defaults list ('defaults: [{entry}: {step.model}]') and "
                "drop its model key (see docs/evaluation.md)"
            )
    return cfg


def not_composed(name: str | None, path: str) -> str:
    """Why a step built without composing (in Python) has no model, and what to do."""
    named = f"no model {name!r} composed" if name else "no model chosen"
    return (
        f"{named} for {path}: choose one with {path}.model=NAME (conf/model/NAME.yaml) when "
        "composing, or give the step a model_config"
    )
