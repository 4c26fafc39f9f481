"""Where a provider's keys and URLs come from: the settings, or prompto's variables."""

from __future__ import annotations

import re
from collections.abc import Mapping


def env_name_for_model(model_name: str) -> str:
    """A model name as it appears in a model-specific variable (non-word characters as _)."""
    return re.sub(r"\W", "_", model_name)


def model_variable(variable: str, model_name: str | None) -> str:
    """The model-specific variable read for ``model_name``, for messages that name it."""
    return f"{variable}_{env_name_for_model(model_name) if model_name else '<model_name>'}"


def setting_or_env(
    env: Mapping[str, str],
    configured: str | None,
    variable: str,
    model_name: str | None,
) -> str | None:
    """A value by prompto's precedence: ``VAR_<model>``, then the config, then ``VAR``."""
    if model_name:
        specific = env.get(f"{variable}_{env_name_for_model(model_name)}")
        if specific:
            return specific
    if configured:
        return configured
    return env.get(variable) or None
