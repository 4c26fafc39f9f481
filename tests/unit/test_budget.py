"""The budget cap (issue 15 item 4): a cap that is not positive is refused.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_budget.py.
"""

from __future__ import annotations

import pytest

from runner.config.compose import compose_settings
from runner.errors import ConfigError


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_budget_that_is_not_positive_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="max_cost_usd"):
        compose_settings(["experiment=demo", f"max_cost_usd={value}"])
