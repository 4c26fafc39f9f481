"""A plain run composed once: Hydra's compose API, not ``hydra.main``.

Before every run ``hydra.main`` composes the config once only to read ``hydra.mode`` (RUN or
MULTIRUN), then composes it again to run: a quarter of a second of startup, the largest part
of it. When nothing on the command line can set ``hydra.mode`` (no flag, not ``-m``, no
``hydra.*`` override, no other config folder, no config file of a group that writes global
keys such as an experiment's YAML), the run is one run: :func:`run_once` composes it once
and runs it as Hydra would. Anything else goes through ``hydra.main`` as it always did.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner.config.search_path import UserConfigs
from runner.config.setup import CONF_DIR

if TYPE_CHECKING:
    from omegaconf import DictConfig

# Flags Hydra reads that leave the config as it is; any other flag takes the long way.
_PLAIN_FLAGS = {"-m", "--multirun"}


def mode_may_be_set(argv: Sequence[str], conf_dir: Path = CONF_DIR) -> bool:
    """Whether the config composed from ``argv`` might set ``hydra.mode``."""
    for arg in argv:
        if arg.startswith("-"):
            if arg not in _PLAIN_FLAGS:
                return True
            continue
        key, sep, value = arg.lstrip("+~").partition("=")
        if not sep:
            continue
        if key.startswith("hydra"):
            return True
        # The user's conf/ folders are searched too (runner.config.search_path).
        groups = [d / key for d in (*UserConfigs.dirs, conf_dir) if (d / key).is_dir()]
        values = value.strip("[]").split(",")
        if any(_writes_globals(group, v) for group in groups for v in values):
            return True
    return _writes_globals_dir(conf_dir)


def _writes_globals(group: Path, value: str) -> bool:
    """Whether ``group/value.yaml`` may write keys outside its group (``hydra.mode`` too)."""
    path = group / f"{value.strip().strip(chr(39) + chr(34))}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return False  # not a YAML of the group: an experiment file, or Hydra reports it
    return "_global_" in text or "hydra" in text


@functools.cache
def _writes_globals_dir(conf_dir: Path) -> bool:
    """Whether the primary config itself sets the mode."""
    try:
        text = (conf_dir / "config.yaml").read_text(encoding="utf-8")
    except OSError:
        return True
    return "mode:" in text


def is_plain_run(argv: Sequence[str], conf_dir: Path = CONF_DIR) -> bool:
    """Whether ``argv`` asks for one run that nothing can turn into a sweep: no flag at all
    (not ``-m``, no ``--help``), and nothing that may set ``hydra.mode``."""
    return not any(arg.startswith("-") for arg in argv) and not mode_may_be_set(argv, conf_dir)


def run_once(
    overrides: Sequence[str], task: Callable[[DictConfig], int], conf_dir: Path = CONF_DIR
) -> int:
    """Compose the config once through Hydra's compose API and run ``task`` in its run folder.

    What ``hydra.main`` does for a run (``hydra.run.dir``, Hydra's logging, its callbacks),
    without the composition it makes first only to read ``hydra.mode``. Returns the task's
    exit status (what it raised, raised here).
    """
    from hydra import compose, initialize_config_dir
    from hydra._internal.callbacks import Callbacks  # what Hydra's run calls; no public name
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import configure_log, run_job
    from hydra.types import HydraContext

    # job_name as hydra.main names a job started from runner/__main__.py.
    with initialize_config_dir(str(conf_dir), job_name="__main__", version_base="1.3"):
        cfg = compose("config", [*overrides, "hydra.mode=RUN"], return_hydra_config=True)
        configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
        callbacks = Callbacks(cfg)
        callbacks.on_run_start(config=cfg, config_name="config")
        loader = GlobalHydra.instance().config_loader()
        ret = run_job(
            task_function=task,
            config=cfg,
            job_dir_key="hydra.run.dir",
            job_subdir_key=None,
            hydra_context=HydraContext(config_loader=loader, callbacks=callbacks),
        )
        callbacks.on_run_end(config=cfg, config_name="config", job_return=ret)
        return int(ret.return_value)
