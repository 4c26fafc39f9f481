"""Issue 23.12: the first hour, smoothed (what a new user tried, one test per case).

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_first_hour.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config.compose import compose_settings
from runner.limits.shared_limits import never_binds
from tests.helpers import write_jsonl


def _groups(tmp_path: Path, *overrides: str) -> dict[str, float]:
    from runner.prepare import prepare_run

    records = [
        {"id": 1, "prompt": "a", "api": "local", "model_name": "gemma-3-270m"},
        {"id": 2, "prompt": "b", "api": "openai", "model_name": "gpt-x"},
    ]
    write_jsonl(tmp_path / "e.jsonl", records)
    settings = compose_settings(["experiment=e", f"experiments_dir={tmp_path}", *overrides])
    plan = prepare_run(settings, {"OPENAI_API_KEY": "k"}).plan
    try:
        return {name: group.rate_per_minute for name, group in plan.groups.items()}
    finally:
        plan.close()


def test_an_api_without_a_quota_gets_no_default_rate_limit(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
    parallel = _groups(tmp_path, "parallel=true")
    assert never_binds(parallel["local"]) and parallel["openai"] == 10
    assert _groups(tmp_path) == {"all": 10}  # one queue with openai in it: openai's limit
    assert _groups(tmp_path, "parallel=true", "max_queries=30") == {"local": 30, "openai": 30}
