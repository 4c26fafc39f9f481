"""The budget cap (issue 15 item 4) and the dry-run estimate (item 3), against llmock."""

from __future__ import annotations

import pytest

from runner.config.compose import compose_settings
from runner.errors import ConfigError


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_budget_that_is_not_positive_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="max_cost_usd"):
        compose_settings(["experiment=demo", f"max_cost_usd={value}"])
