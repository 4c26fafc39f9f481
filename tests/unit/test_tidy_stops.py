"""Issue 10.10: stops end tidily.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_tidy_stops.py.
"""

from __future__ import annotations

import pytest

from runner.config import compose_config, to_settings
from runner.errors import ConfigError

NEGATIVE = [
    "stop_timeout_s",
    "backoff_base_s",
    "backoff_max_s",
    "timeout_s",
    "output_tokens_estimate",
    "max_concurrency",
    "max_attempts",
    "apis.local.n_ctx",
    "apis.local.default_max_tokens",
    "apis.anthropic.default_max_tokens",
]


@pytest.mark.parametrize("key", NEGATIVE)
def test_negative_numbers_are_refused_naming_the_key(key: str) -> None:
    cfg = compose_config(["experiment=demo", f"{key}=-1"])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        to_settings(cfg)


@pytest.mark.parametrize("key", ["stop_timeout_s", "max_cost_usd"])
def test_nan_is_refused_as_not_a_number(key: str) -> None:
    cfg = compose_config(["experiment=demo", f"{key}=nan"])
    with pytest.raises(ConfigError, match=f"{key} must be a (positive )?number"):
        to_settings(cfg)
