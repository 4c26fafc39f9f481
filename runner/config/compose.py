"""The typed settings a command's overrides compose to, failures said as config errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from omegaconf.errors import MissingMandatoryValue

from runner.cli import config_problem
from runner.config.schema import RunConfig
from runner.config.settings import to_settings
from runner.config.setup import CONF_DIR, compose_config
from runner.errors import ConfigError


def compose_settings(overrides: Sequence[str], conf_dir: Path | None = None) -> RunConfig:
    """The typed settings these overrides compose to, as a run would have them.

    Raises:
        ConfigError: a missing required value, a misspelled key, an unknown option.
        BadInputError: an experiment named has no file.
    """
    try:
        return to_settings(compose_config(overrides, conf_dir or CONF_DIR))
    except MissingMandatoryValue as exc:
        raise_missing(str(exc))
    except ValueError as exc:  # a value OmegaConf cannot convert to its field's type
        raise ConfigError(f"the configuration is invalid: {exc}") from None
    except Exception as exc:
        problem = config_problem(exc)
        if problem is None:
            raise
        raise problem from None


def raise_missing(message: str) -> NoReturn:
    """Turn OmegaConf's missing-value error into a message for the user."""
    if "experiment.file" in message:
        raise ConfigError(
            "No experiment chosen: pass experiment=NAME (a file experiments/NAME.jsonl or "
            ".csv, or conf/experiment/NAME.yaml)"
        )
    raise ConfigError(f"A required setting has no value: {message}")
