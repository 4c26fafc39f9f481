"""A resume runs with the run's own settings, plus only what is overridden now.

``run.json`` keeps the resolved config the run was started with. A resume composes the
config afresh (so Hydra checks today's overrides), then puts back every setting the user
did not override this time, and reports which settings end up different.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from runner.config.schema import ModelConfig
from runner.errors import ConfigError

# Always this invocation's: which run to continue, and secrets (stored only as ***).
_ALWAYS_NOW = ("resume", "run_id", "hydra")
_SECRETS = ("api_key",)
# Under these sections a step's model is its name (model) and what Hydra composed for it.
_STEPS = ("evaluation", "rephrase")
_MODEL_KEYS = ("model", "model_config")


def _override_keys(overrides: Sequence[str]) -> list[list[str]]:
    """The setting paths the overrides set (``api@apis.openai=x`` sets ``apis.openai``)."""
    keys = []
    for item in overrides:
        key, sep, _value = item.lstrip("+~").partition("=")
        if not sep and not item.startswith("~"):
            continue
        key = key.split("@", 1)[1] if "@" in key else key
        if key and not key.startswith("hydra."):
            keys.append(key.split("."))
            # A step's model is chosen anew with its name: drop the run's name and config.
            if key.split(".")[0] in _STEPS and key.split(".")[-1] in _MODEL_KEYS:
                keys += [[*key.split(".")[:-1], other] for other in _MODEL_KEYS]
    return keys


def _drop(data: dict[str, Any], path: list[str]) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _without_secrets(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_secrets(v) for k, v in data.items() if k not in _SECRETS}
    return data


def _leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict) and data:
        for key, value in data.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, data


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    old, new = dict(_leaves(_without_secrets(before))), dict(_leaves(_without_secrets(after)))
    skip = {k for k in (*old, *new) if k.split(".")[0] in _ALWAYS_NOW}
    return {
        key: [old.get(key), new.get(key)]
        for key in sorted(set(old) | set(new))
        if key not in skip and old.get(key) != new.get(key)
    }


def original_config(run_dir: Path) -> dict[str, Any] | None:
    """The resolved config a run was started with (None for a run that kept none)."""
    try:
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no run there: the run itself says so, naming what it looked for
    config = meta.get("config") if isinstance(meta, dict) else None
    return config if isinstance(config, dict) and config else None


def _models_as_kept(base: DictConfig, kept: Mapping[str, Any]) -> None:
    """Put the run's own models in whole: merged, today's YAML could add parameters to them."""
    nodes: list[tuple[DictConfig, str, Any]] = [(base, "model", kept.get("model"))]
    steps = kept.get("evaluation")
    for name, step in (steps if isinstance(steps, dict) else {}).items():
        if isinstance(step, dict) and name in base.evaluation:
            nodes.append((base.evaluation[name], "model_config", step.get("model_config")))
    rephrase = kept.get("rephrase")
    if isinstance(rephrase, dict) and base.get("rephrase") is not None:
        nodes.append((base.rephrase, "model_config", rephrase.get("model_config")))
    for node, key, model in nodes:
        if isinstance(model, dict):  # checked against the schema as a whole
            node[key] = OmegaConf.merge(OmegaConf.structured(ModelConfig), model)


def resumed_config(
    cfg: DictConfig, overrides: Sequence[str], original: Mapping[str, Any]
) -> tuple[DictConfig, dict[str, list[Any]]]:
    """``cfg`` with every setting not overridden now put back to the run's own.

    Returns:
        The config to run with, and ``{setting: [the run's value, the value now]}`` for
        every setting that differs.

    Raises:
        ConfigError: the run's saved settings no longer fit the settings' schema.
    """
    kept: dict[str, Any] = _without_secrets(copy.deepcopy(dict(original)))
    for key in _ALWAYS_NOW:
        kept.pop(key, None)
    for path in _override_keys(overrides):
        _drop(kept, path)
    base = copy.deepcopy(cfg)
    # The run's own evaluation steps come back though this composition chose none: the
    # step map takes their names (each step still checked against its schema).
    OmegaConf.set_struct(base.evaluation, False)
    try:
        _models_as_kept(base, kept)
        merged = OmegaConf.merge(base, kept)
        OmegaConf.set_struct(merged.evaluation, True)
    except OmegaConfBaseException as exc:
        raise ConfigError(
            f"resume: the run's saved settings no longer fit this version of runner ({exc}); "
            "start a new run, or give the settings on the command line"
        ) from None
    assert isinstance(merged, DictConfig)
    now = OmegaConf.to_container(merged, resolve=True, throw_on_missing=False)
    assert isinstance(now, dict)
    return merged, _changes(original, {str(k): v for k, v in now.items()})
