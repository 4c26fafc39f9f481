"""What every command line shares: turning config and error failures into messages.

Entry points import from here, never from one another's ``__main__``.
"""

from __future__ import annotations

from typing import NoReturn

from runner.errors import ConfigError


def raise_missing(message: str) -> NoReturn:
    """Turn OmegaConf's missing-value error into a message for the user."""
    if "experiment.file" in message:
        raise ConfigError(
            "No experiment chosen: pass experiment=NAME (a file experiments/NAME.jsonl or "
            ".csv, or conf/experiment/NAME.yaml)"
        )
    raise ConfigError(f"A required setting has no value: {message}")


def config_problem(exc: BaseException) -> ConfigError | None:
    """The config error a failure to compose stands for (Hydra's, OmegaConf's), else None.

    Hydra reports a misspelled key or an unknown config option with its own exceptions: to
    the user that is bad input (exit 2), said in one line with its cause.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(exc, HydraException | OmegaConfBaseException):
        return None
    cause = f": {exc.__cause__}" if exc.__cause__ else ""
    return ConfigError(f"{exc}{cause}")
