"""The boundary between Hydra and the rest of runner: DictConfig in, typed settings out."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner import redaction
from runner.config.cache_settings import check_mode, ttl_seconds
from runner.config.schema import ApisConfig, RunConfig
from runner.errors import ConfigError
from runner.run_dirs import LATEST, check_name

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
            if node._get_node(key)._is_none():
                continue
            if not OmegaConf.is_interpolation(node, key):
                raise ConfigError(
                    f"apis.{api_name}.{key} is written literally; runner never stores keys. "
                    f"Set it in the environment instead, or reference one: "
                    f"apis.{api_name}.{key}='${{oc.env:MY_KEY_VAR}}'"
                )


def _positive(name: str, value: Any, unit: str = "queries per minute") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number of {unit}, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of {unit}, got {value!r}")
    return float(value)


def token_settings(run: RunConfig) -> dict[str, tuple[float | None, dict[str, Any]]]:
    """The token-limit settings by name: (default per minute, the ``_dict`` form)."""
    return {
        "max_tokens_per_minute": (run.max_tokens_per_minute, run.max_tokens_per_minute_dict),
        "max_input_tokens_per_minute": (
            run.max_input_tokens_per_minute,
            run.max_input_tokens_per_minute_dict,
        ),
        "max_output_tokens_per_minute": (
            run.max_output_tokens_per_minute,
            run.max_output_tokens_per_minute_dict,
        ),
    }


def _check_limits(run: RunConfig) -> None:
    if run.max_queries is not None:
        _positive("max_queries", run.max_queries)
    for group, value in run.max_queries_dict.items():
        if isinstance(value, dict):
            if not value:
                raise ConfigError(f"max_queries_dict.{group} is an empty dict; give it limits")
            for sub, sub_value in value.items():
                _positive(f"max_queries_dict.{group}.{sub}", sub_value)
        else:
            _positive(f"max_queries_dict.{group}", value)
    for name, (default, per_group) in token_settings(run).items():
        if default is not None:
            _positive(name, default, "tokens per minute")
        for group, value in per_group.items():
            subs = value.items() if isinstance(value, dict) else [("", value)]
            for sub, sub_value in subs:
                where = f"{name}_dict.{group}" + (f".{sub}" if sub else "")
                _positive(where, sub_value, "tokens per minute")
    if run.token_accounting not in ("provider", "reserved", "actual"):
        raise ConfigError(
            f"token_accounting must be provider, reserved or actual, got {run.token_accounting!r}"
        )
    for api, value in run.key_max_queries.items():
        _positive(f"key_max_queries.{api}", value)
    if run.shared_limits not in ("none", "file", "ray"):
        raise ConfigError(f"shared_limits must be none, file or ray, got {run.shared_limits!r}")
    _check_shards(run.shards, run.shard)
    if run.model is not None and run.model.max_queries is not None:
        _positive("model.max_queries", run.model.max_queries)
    if run.max_attempts < 1:
        raise ConfigError(f"max_attempts must be at least 1, got {run.max_attempts}")
    if run.max_concurrency < 1:
        raise ConfigError(f"max_concurrency must be at least 1, got {run.max_concurrency}")
    if not run.timeout_s > 0:
        raise ConfigError(f"timeout_s must be positive, got {run.timeout_s}")
    if run.backoff_base_s < 0 or run.backoff_max_s < 0:
        raise ConfigError("backoff_base_s and backoff_max_s must not be negative")
    if run.apis.local.string_prompts not in ("completion", "chat"):
        raise ConfigError(
            f"apis.local.string_prompts must be completion or chat, got "
            f"{run.apis.local.string_prompts!r}"
        )
    _check_prices(run)
    if run.progress not in ("auto", "on", "off"):
        raise ConfigError(f"progress must be auto, on or off, got {run.progress!r}")
    check_mode(run.cache)
    ttl_seconds(run.cache_ttl)
    _check_batch(run)


def _check_prices(run: RunConfig) -> None:
    """A budget must be positive; a price must say both its input and output rates."""
    if run.max_cost_usd is not None:
        _positive("max_cost_usd", run.max_cost_usd, "US dollars")
    priced = [(f"prices.{name}", price) for name, price in run.prices.items()]
    models = [("model", run.model)]
    models += [(f"evaluation.{n}.model", s.model_config) for n, s in run.evaluation.items()]
    if run.rephrase is not None:
        models.append(("rephrase.model", run.rephrase.model_config))
    priced += [(f"{where}.price", m.price) for where, m in models if m is not None and m.price]
    for where, price in priced:
        if price is None or price.input_per_mtok is None or price.output_per_mtok is None:
            raise ConfigError(
                f"{where} needs both input_per_mtok and output_per_mtok (USD per million "
                "tokens), e.g. {input_per_mtok: 0.15, output_per_mtok: 0.6}"
            )


def _check_batch(run: RunConfig) -> None:
    if run.mode not in ("online", "batch"):
        raise ConfigError(f"mode must be online or batch, got {run.mode!r}")
    if run.model is not None and run.model.mode not in (None, "online", "batch"):
        raise ConfigError(
            f"model.mode (conf/model/*.yaml) must be online or batch, got {run.model.mode!r}"
        )
    _check_endpoints(run)
    if run.batch_fallback not in ("batch", "online"):
        raise ConfigError(f"batch_fallback must be batch or online, got {run.batch_fallback!r}")
    if not run.batch_poll_s > 0:
        raise ConfigError(f"batch_poll_s must be positive (seconds), got {run.batch_poll_s}")


def _check_endpoints(run: RunConfig) -> None:
    """chat or responses: the OpenAI endpoint of the api blocks and of each model."""
    named = [
        ("apis.openai.endpoint", run.apis.openai.endpoint),
        ("apis.azure_openai.route", run.apis.azure_openai.route),
    ]
    models = [("model", run.model)]
    models += [(f"evaluation.{n}.model", s.model_config) for n, s in run.evaluation.items()]
    if run.rephrase is not None:
        models.append(("rephrase.model", run.rephrase.model_config))
    named += [(f"{where}.endpoint", m.endpoint) for where, m in models if m and m.endpoint]
    for where, m in models:
        if m and m.endpoint and m.api not in ("openai", "azure-openai"):
            raise ConfigError(
                f"{where}.endpoint chooses the OpenAI endpoint (chat or responses) of an "
                f"openai or azure-openai model; this model's api is {m.api!r}: remove it"
            )
    for where, value in named:
        if value not in ("chat", "responses"):
            raise ConfigError(
                f"{where} must be chat or responses (the Responses API), got {value!r}"
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
    _check_limits(run)
    # A key referenced from config (${oc.env:ANY_NAME}) is masked like the usual variables.
    apis = [getattr(run.apis, f.name) for f in fields(run.apis)]
    redaction.remember(getattr(api, "api_key", None) for api in apis)
    urls = [getattr(api, name, None) for api in apis for name in ("base_url", "endpoint")]
    redaction.remember(redaction.url_secrets(url for url in urls if isinstance(url, str)))
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


def _check_shards(shards: int, shard: int | None) -> None:
    if shards < 1:
        raise ConfigError(f"shards must be at least 1, got {shards}")
    if shards > 1 and shard is None:
        raise ConfigError(
            f"shards={shards} needs shard=K (0..{shards - 1}), e.g. a sweep over "
            f"shard={','.join(map(str, range(shards)))}"
        )
    if shard is not None and not 0 <= shard < shards:
        raise ConfigError(f"shard must be 0..{shards - 1} with shards={shards}, got {shard}")
