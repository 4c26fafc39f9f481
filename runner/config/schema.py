"""Typed schemas of the configuration, registered in Hydra's ConfigStore.

These dataclasses are the only description of the settings: YAML under ``conf/`` is checked
against them when Hydra composes, so a misspelled key or a value of the wrong type fails
before anything runs. Code below the command line sees :class:`runner.config.Settings`,
never a ``DictConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class ExperimentConfig:
    """Which experiment file to run.

    ``file`` is a path relative to ``experiments_dir`` (or absolute). ``name`` names the
    output folder; empty means the file name without its extension.
    """

    file: str = MISSING
    name: str = ""


@dataclass
class ModelConfig:
    """One model: choosing it fills ``api`` and ``model_name`` for every prompt."""

    api: str = MISSING
    model_name: str = MISSING
    parameters: dict[str, Any] = field(default_factory=dict)
    # Queries per minute for this model; None means the group's limit applies.
    max_queries: float | None = None


@dataclass
class OpenAIApiConfig:
    """Settings of the ``openai`` provider; None means the environment variable."""

    # Keys are never written literally in a config: use ${oc.env:VAR} (see README).
    api_key: str | None = None
    base_url: str | None = None


@dataclass
class LocalApiConfig:
    """Settings of the embedded llama.cpp model (``api: local``)."""

    # A .gguf file; None means the Gemma 3 270M model assembled into the cache folder.
    model_path: str | None = None
    cache_dir: str | None = None
    n_ctx: int = 2048
    n_threads: int | None = None
    chat_format: str = "gemma"
    # Sent when a prompt's parameters give no max_tokens: a base model rambles on otherwise.
    default_max_tokens: int = 64
    seed: int = 0


@dataclass
class ApisConfig:
    """Per-API settings, one field per provider."""

    openai: OpenAIApiConfig = field(default_factory=OpenAIApiConfig)
    local: LocalApiConfig = field(default_factory=LocalApiConfig)


@dataclass
class RunConfig:
    """The whole configuration of one run."""

    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    model: ModelConfig | None = None
    apis: ApisConfig = field(default_factory=ApisConfig)

    experiments_dir: str = "experiments"
    outputs_dir: str = "outputs"
    # Empty: a new id (UTC time plus a random suffix) is made for every run.
    run_id: str = ""

    max_queries: float = 10.0  # per minute, the default limit of every group
    max_attempts: int = 3
    parallel: bool = False
    # A group (or api) -> a number, or {"default": n, "<model_name>": n, ...}.
    max_queries_dict: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 120.0
    max_concurrency: int = 16

    # Backoff between attempts: full jitter up to min(backoff_max_s, backoff_base_s * 2**n).
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0

    csv: bool = False  # also write results.csv in the run folder
    progress: str = "auto"  # auto (only on a terminal) | on | off
    index: bool = True  # bring <outputs_dir>/index.duckdb up to date after the run
    log_level: str = "INFO"


def register_configs() -> None:
    """Register the schemas so YAML files in ``conf/`` are validated against them."""
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    cs.store(group="model", name="model_schema", node=ModelConfig, package="model")
