"""Issue 12.7: a resume keeps the run's settings.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_resume_settings.py.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from runner.config import compose_config


def test_overrides_now_win_and_everything_else_is_the_runs() -> None:
    from runner.config.resumed import resumed_config

    first = compose_config(["experiment=demo", "max_queries=5", "csv=true"])
    resolved = OmegaConf.to_container(first, resolve=True)
    assert isinstance(resolved, dict)
    original = {str(k): v for k, v in resolved.items()}
    original["apis"]["openai"]["api_key"] = "***"
    cfg = compose_config(["experiment=demo", "resume=r1", "timeout_s=9"])
    merged, changed = resumed_config(cfg, ["experiment=demo", "resume=r1", "timeout_s=9"], original)
    assert merged.max_queries == 5 and merged.csv is True and merged.timeout_s == 9
    assert merged.resume == "r1"
    assert merged.apis.openai.api_key != "***", "secrets are never taken from run.json"
    assert changed == {"timeout_s": [120.0, 9.0]}
