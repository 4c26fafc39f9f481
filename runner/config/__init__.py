"""Configuration: schemas, Hydra set-up, and the typed boundary."""

from runner.config.schema import (
    ApisConfig,
    ExperimentConfig,
    ModelConfig,
    RunConfig,
    register_configs,
)
from runner.config.settings import redacted_container, resolve_path, to_settings
from runner.config.setup import CONF_DIR, compose_config, new_run_id, prepare_hydra

__all__ = [
    "CONF_DIR",
    "ApisConfig",
    "ExperimentConfig",
    "ModelConfig",
    "RunConfig",
    "compose_config",
    "new_run_id",
    "prepare_hydra",
    "redacted_container",
    "register_configs",
    "resolve_path",
    "to_settings",
]
