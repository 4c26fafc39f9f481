"""The boundary between Hydra and the rest of runner: DictConfig in, typed settings out."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner import redaction
from runner.config.checks import check_values, token_settings
from runner.config.schema import ApisConfig, RunConfig
from runner.errors import ConfigError
from runner.run_dirs import LATEST, check_name

# token_settings is read from here by the engine's limits.
__all__ = ["redacted_container", "resolve_path", "to_settings", "token_settings"]

_SECRET_FIELDS = ("api_key",)


def _check_no_literal_secrets(cfg: DictConfig) -> None:
    """Refuse API keys written literally: they would be saved with the run's config."""
    apis = cfg.get("apis")
    if apis is None:
        return
    for api_name in apis:
        node = apis[api_name]
        for key in _SECRET_FIELDS:
            if key not in node or OmegaConf.is_missing(node, key):
                continue
            if OmegaConf.is_interpolation(node, key) or node[key] is None:
                continue
            raise ConfigError(
                f"apis.{api_name}.{key} is written literally; runner never stores keys. "
                f"Set it in the environment instead, or reference one: "
                f"apis.{api_name}.{key}='${{oc.env:MY_KEY_VAR}}'"
            )


# Free-form maps of values passed to APIs or scorers as they are (a negative may be meant).
_FREE_FORM = ("parameters", "params")


def _check_not_negative(node: object, where: str) -> None:
    """Every number a setting holds must be 0 or more (and a real number)."""
    if isinstance(node, bool):
        return
    if isinstance(node, int | float):
        if math.isnan(node):
            raise ConfigError(f"{where} must be a number, got nan")
        if node < 0:
            raise ConfigError(f"{where} must not be negative, got {node!r}")
        return
    if is_dataclass(node) and not isinstance(node, type):
        for f in fields(node):
            if f.name not in _FREE_FORM:
                _check_not_negative(getattr(node, f.name), f"{where}.{f.name}".lstrip("."))
    elif isinstance(node, dict):
        for key, value in node.items():
            _check_not_negative(value, f"{where}.{key}")


def _check_experiment(run: RunConfig) -> None:
    """A file, or a template over data: one of the two, whole."""
    exp = run.experiment
    template = exp.data is not None or exp.prompt is not None
    if not exp.file and not template:
        raise ConfigError(
            "No experiment chosen: pass experiment=NAME (a file experiments/NAME.jsonl or "
            ".csv, or conf/experiment/NAME.yaml)"
        )
    if exp.file and template:
        raise ConfigError(
            "experiment: give either file (a prompto file) or data and prompt (a template "
            "experiment), not both"
        )
    if template and (exp.data is None or exp.prompt is None):
        missing = "data" if exp.data is None else "prompt"
        raise ConfigError(f"experiment: a template experiment needs {missing} as well")
    if not template and (exp.models or exp.parameters or exp.repeats != 1):
        raise ConfigError("experiment: models, parameters and repeats go with data and prompt")
    if not template and run.prompt_variant:
        raise ConfigError(
            f"prompt_variant={run.prompt_variant}: only a template experiment (data and a "
            "prompt with named variants) has variants"
        )
    if exp.repeats < 1:
        raise ConfigError(f"experiment.repeats must be at least 1, got {exp.repeats}")
    if template and not exp.name:
        raise ConfigError("experiment.name: a template experiment needs a name")
    for key in ("limit", "sample"):
        value = getattr(run, key)
        if value is not None and value < 1:
            raise ConfigError(f"{key} must be at least 1 (a number of prompts), got {value}")
    if run.limit is not None and run.sample is not None:
        raise ConfigError("give limit=N or sample=N, not both")


def _check_names(run: RunConfig) -> None:
    if run.run_id:
        check_name("run_id", run.run_id)
    if run.resume and run.resume != LATEST:
        check_name("resume", run.resume)
    if run.experiment.name:
        check_name("experiment.name", run.experiment.name)


def to_settings(cfg: DictConfig) -> RunConfig:
    """Check a composed config and turn it into typed settings.

    Raises:
        ConfigError: a value runner cannot use (a limit of 0, a literal API key, ...).
    """
    _check_no_literal_secrets(cfg)
    run = OmegaConf.to_object(cfg)
    if not isinstance(run, RunConfig):
        raise ConfigError("the configuration is not a runner config; compose it from conf/")
    if not isinstance(run.apis, ApisConfig):  # pragma: no cover - guarded by the schema
        raise ConfigError("apis must follow the ApisConfig schema")
    _check_names(run)
    _check_experiment(run)
    _check_not_negative(run, "")
    if run.max_queries_json:
        from runner.config.limits_json import merged_limits

        run.max_queries_dict = merged_limits(
            Path(run.max_queries_json).expanduser(), dict(run.max_queries_dict)
        )
    check_values(run)
    # A key referenced from config (${oc.env:ANY_NAME}) is masked like the usual variables.
    apis = [getattr(run.apis, f.name) for f in fields(run.apis)]
    redaction.remember((getattr(api, "api_key", None) for api in apis), known=True)
    urls = [getattr(api, name, None) for api in apis for name in ("base_url", "endpoint")]
    secrets = redaction.url_secrets(url for url in urls if isinstance(url, str))
    redaction.remember(secrets, known=True)
    return run


def redacted_container(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain data, with any secret replaced by ``***``.

    A URL's credentials (``user:password@``, ``?key=``) are taken out (run.json, report, index).
    """
    data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(data, dict)
    for api in (data.get("apis") or {}).values():
        if isinstance(api, dict):
            for key in _SECRET_FIELDS:
                if api.get(key):
                    api[key] = "***"
            for key, value in api.items():  # base_url, endpoint: no user:password@ kept
                if isinstance(value, str):
                    api[key] = redaction.public_url(value)
    data.pop("hydra", None)
    return {str(k): v for k, v in data.items()}


def resolve_path(base: Path, value: str) -> Path:
    """``value`` as a path: absolute as given, else relative to ``base``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path
