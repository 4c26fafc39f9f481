"""The Python API: run an experiment and get its results as a pandas DataFrame."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner import logs
from runner.config import CONF_DIR, compose_config, redacted_container, to_settings
from runner.limits.clock import Clock

if TYPE_CHECKING:
    from runner.run import RunResult


def run_experiment(
    experiment: str,
    overrides: Sequence[str] = (),
    *,
    conf_dir: Path = CONF_DIR,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run an experiment as ``python -m runner experiment=NAME [overrides]`` would.

    Args:
        experiment: a name under ``conf/experiment/`` or the experiments folder.
        overrides: Hydra overrides, e.g. ``["max_queries=60", "model=gemma_local"]``.
        conf_dir: the config folder.
        clock: a time source (for tests).
        env: environment variables for keys and endpoints (``os.environ`` by default).

    Returns:
        The run's result: ``result.dataframe()`` holds one row per prompt,
        ``result.summary`` the counts and rates, ``result.run_dir`` the run folder.

    Raises:
        BadInputError: the experiment cannot be sent as it is; nothing was sent.
        ConfigError: a setting has a value runner cannot use.
    """
    import runner.providers  # noqa: F401 - declares each provider's settings block
    from runner.config.resumed import original_config, resumed_config
    from runner.run import default_run_dir, execute_run

    all_overrides = [f"experiment={experiment}", *overrides]
    cfg = compose_config(all_overrides, conf_dir)
    settings = to_settings(cfg)
    run_dir = default_run_dir(settings)
    changed: dict[str, list[object]] = {}
    original = original_config(run_dir) if settings.resume else None
    if original is not None:  # a resume keeps the run's own settings
        cfg, changed = resumed_config(cfg, all_overrides, original)
        settings = to_settings(cfg)
    logs.configure(settings.log_level)
    return execute_run(
        settings,
        run_dir,
        overrides=all_overrides,
        config=redacted_container(cfg),
        clock=clock,
        env=env,
        changed=changed,
    )
