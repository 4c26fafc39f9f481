"""The integration tier: real servers, CLI subprocesses, in-test HTTP servers, Chromium, SLURM.

Every test here carries the ``integration`` marker, so ``-m "not integration"`` leaves the
unit tier (``pytest tests/unit``). The servers' fixtures are in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this folder's tests ``integration``."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
