"""Checks of typed settings' values: limits, prices, batch mode, endpoints and shards."""

from __future__ import annotations

import math
from typing import Any

from runner.config.cache_settings import check_mode, ttl_seconds
from runner.config.schema import RunConfig
from runner.errors import ConfigError

# The settings that are durations, in seconds.
SECONDS_SETTINGS = (
    "timeout_s",
    "stop_timeout_s",
    "backoff_base_s",
    "backoff_max_s",
    "batch_poll_s",
    "batch_deadline_s",
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


def check_values(run: RunConfig) -> None:
    """Check every limit, price, batch and cache setting of ``run``."""
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
    _check_finite_seconds(run)
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


def _check_finite_seconds(run: RunConfig) -> None:
    """A duration must be a number of seconds: ``timeout_s=inf`` failed every request."""
    for name in SECONDS_SETTINGS:
        value = getattr(run, name)
        if math.isinf(value):
            raise ConfigError(
                f"{name} must be a finite number of seconds, got {value}; "
                "for a long wait give a large one (3600 is an hour)"
            )


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
        for name, rate in vars(price).items():  # inf: every reservation NaN, a run that hung
            if isinstance(rate, float) and not math.isfinite(rate):
                raise ConfigError(
                    f"{where}.{name} must be a finite number of USD per million tokens, got {rate}"
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
