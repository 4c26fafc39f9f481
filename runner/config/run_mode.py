"""Runs and sweeps through Hydra's public API (compose, the sweeper plugin), not ``hydra.main``.

Before every run ``hydra.main`` composes the config once only to read ``hydra.mode`` (RUN or
MULTIRUN), then composes it again to run: a quarter of a second of startup, the largest part
of it. A command line with no flag, no ``hydra.*`` override and no sweep
override goes to :func:`run_once`, which composes it once and reads ``hydra.mode`` from that
composition: one run is run as Hydra would; a sweep an experiment's YAML asks for goes to the
sweeper from the same composition. A sweep (``-m``) goes to :func:`run_sweep`, which hands the
jobs to the configured sweeper and launcher as ``hydra.main`` does and gets every job's
:class:`~hydra.core.utils.JobReturn` back, in this process, whichever launcher ran it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback

from runner.config import composed, sweep_stop
from runner.config.setup import (
    CONF_DIR,
    experiments_dir,
    register_for_compose,
    register_resolvers,
)

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn
    from hydra.types import HydraContext
    from omegaconf import DictConfig

# The config Hydra composes a command line against (conf/config.yaml) and the job's name as
# hydra.main names a job started from runner/__main__.py.
_CONFIG, _JOB = "config", "__main__"

# Flags Hydra reads that leave the config as it is; any other flag takes the long way.
_PLAIN_FLAGS = {"-m", "--multirun"}


def is_plain_run(argv: Sequence[str]) -> bool:
    """Whether ``argv`` is for :func:`run_once`: no flag (not ``-m``, no ``--help``), no
    ``hydra.*`` override and no sweep override; the composed config says run or sweep."""
    for arg in argv:
        if arg.startswith("-") or arg.lstrip("+~").startswith("hydra"):
            return False
    # Every sweep Hydra reads is a list (a,b) or a call (range(3)): nothing else is parsed.
    return not any(_is_sweep(a) for a in argv if "=" in a and ("," in a or "(" in a))


class HydraCallbacks(Callback):
    """The callbacks a config lists under ``hydra.callbacks``, called as Hydra calls them.

    What ``hydra.main`` hands its launcher (Hydra's own class for it is private): each event
    goes to every callback, the ending ones in reverse order; a callback that fails is a
    warning, never the run's failure. Launchers pickle it to their workers (joblib, Ray).
    """

    def __init__(self, config: DictConfig) -> None:
        from hydra.utils import instantiate
        from omegaconf import OmegaConf

        listed = OmegaConf.select(config, "hydra.callbacks") or {}
        self.callbacks: list[Callback] = [instantiate(params) for params in listed.values()]

    def _notify(self, event: str, reverse: bool = False, **kwargs: Any) -> None:
        for callback in reversed(self.callbacks) if reverse else self.callbacks:
            try:
                getattr(callback, event)(**kwargs)
            except Exception as exc:  # as Hydra does: a callback never fails the job
                warnings.warn(f"{type(callback).__name__}.{event} raised: {exc!r}", stacklevel=2)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_run_start", config=config, **kwargs)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_run_end", reverse=True, config=config, **kwargs)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_multirun_start", config=config, **kwargs)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_multirun_end", reverse=True, config=config, **kwargs)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_job_start", config=config, **kwargs)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        self._notify("on_job_end", reverse=True, config=config, job_return=job_return, **kwargs)


@contextmanager
def _composed(conf_dir: Path, overrides: Sequence[str]) -> Iterator[DictConfig]:
    """The config with Hydra's own part, composed in a Hydra initialised on ``conf_dir``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.utils import configure_log

    with initialize_config_dir(str(conf_dir), job_name=_JOB, version_base="1.3"):
        cfg = compose(_CONFIG, list(overrides), return_hydra_config=True)
        configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
        yield cfg


def _context(callbacks: HydraCallbacks) -> HydraContext:
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import HydraContext

    # HydraContext names Hydra's private Callbacks; any object with its methods serves.
    return HydraContext(GlobalHydra.instance().config_loader(), callbacks)  # type: ignore[arg-type]


def is_sweep(argv: Sequence[str]) -> bool:
    """Whether ``argv`` asks for a sweep (``-m``) with no other flag: :func:`run_sweep` runs it."""
    flags = {arg for arg in argv if arg.startswith("-")}
    return bool(flags) and flags <= _PLAIN_FLAGS


def run_once(
    overrides: Sequence[str],
    task: Callable[[DictConfig], int],
    conf_dir: Path = CONF_DIR,
    remember: Remembered | None = None,
    on_sweep: Callable[[list[JobReturn]], int] | None = None,
) -> int:
    """Compose the config once through Hydra's compose API and run ``task`` as it says.

    What ``hydra.main`` does (``hydra.run.dir``, Hydra's logging, its callbacks), without
    the composition it makes first only to read ``hydra.mode``: this one composition is read
    instead. A config that sets ``hydra.mode: MULTIRUN`` (an experiment's YAML) is a sweep:
    its jobs go to the sweeper from it, and ``on_sweep`` turns their returns into the status
    (by default the highest). With ``remember``, the config an identical command composed
    before is loaded instead of composed (:mod:`runner.config.composed`), and one composed
    here is remembered once ``task`` accepted it. Returns the task's exit status (what it
    raised, raised here).
    """
    as_run = [*overrides, "hydra.mode=RUN"]  # what a remembered config was composed as
    key = remember.key(as_run) if remember else None
    cfg = composed.load(key) if key else None
    if cfg is not None:
        try:
            composed.set_at_load(cfg, as_run)
        except Exception:  # a value Hydra would refuse: composing says how
            cfg = None
    if cfg is not None:
        return _run_loaded(cfg, task)
    if remember:
        remember.prepare()
    with _composed(conf_dir, overrides) as cfg:
        if not _as_run(cfg):
            returns = _sweep_composed(cfg, overrides, task)
            return (on_sweep or _highest)(returns)
        data = composed.dump(cfg) if key else b""
        code = _run_composed(cfg, task, _context)
    if key and code in (0, 1):  # a config the run accepted
        composed.save(key, data)
    return code


def _as_run(cfg: DictConfig) -> bool:
    """Whether ``cfg`` is one run; one that names no mode is set as ``hydra.main`` sets it."""
    from hydra.types import RunMode
    from omegaconf import open_dict, read_write

    if cfg.hydra.mode is None:
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.mode = RunMode.RUN
            cfg.hydra.overrides.hydra.append("hydra.mode=RUN")
    return bool(cfg.hydra.mode == RunMode.RUN)


def _highest(returns: list[JobReturn]) -> int:
    return max((int(job.return_value) for job in returns), default=0)


class Remembered:
    """How :func:`run_once` keys a composed config, and what composing needs first."""

    def __init__(self, dirs: Sequence[Path], experiments_dir: Path, prepare: Callable[[], None]):
        self.dirs, self.experiments_dir, self.prepare = list(dirs), experiments_dir, prepare

    @classmethod
    def of(cls, overrides: Sequence[str], dirs: Sequence[Path]) -> Remembered:
        """For a command line checked by :func:`~runner.config.setup.check_command`."""
        prepare = functools.partial(register_for_compose, overrides, dirs)
        return cls(dirs, experiments_dir(overrides), prepare)

    def key(self, overrides: Sequence[str]) -> str:
        """The cache key of the config ``overrides`` compose to."""
        return composed.cache_key(overrides, self.dirs, self.experiments_dir)


def _run_loaded(cfg: DictConfig, task: Callable[[DictConfig], int]) -> int:
    """Run ``task`` on a remembered config, set up as composing in Hydra would have."""
    from hydra import version
    from hydra.core.utils import JobRuntime, configure_log, setup_globals

    version.setbase("1.3")
    setup_globals()  # Hydra's resolvers: now, hydra, python_version
    register_resolvers()  # runner's: the run's folder
    JobRuntime().set("name", _JOB)
    configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
    return _run_composed(cfg, task, _loaded_context)


def _loaded_context(callbacks: HydraCallbacks) -> HydraContext:
    from hydra.types import HydraContext

    # run_job reads only the callbacks; no config loader exists when nothing was composed.
    return HydraContext(None, callbacks)  # type: ignore[arg-type]


def _run_composed(
    cfg: DictConfig,
    task: Callable[[DictConfig], int],
    context: Callable[[HydraCallbacks], HydraContext],
) -> int:
    from hydra.core.utils import run_job

    callbacks = HydraCallbacks(cfg)
    callbacks.on_run_start(config=cfg, config_name=_CONFIG)
    ret = run_job(
        task_function=task,
        config=cfg,
        job_dir_key="hydra.run.dir",
        job_subdir_key=None,
        hydra_context=context(callbacks),
    )
    callbacks.on_run_end(config=cfg, config_name=_CONFIG, job_return=ret)
    return int(ret.return_value)


def run_sweep(
    overrides: Sequence[str], task: Callable[[DictConfig], int], conf_dir: Path = CONF_DIR
) -> list[JobReturn]:
    """Run a sweep as ``hydra.main -m`` does; every job's :class:`JobReturn`, in job order.

    The sweeper and the launcher the config names run the jobs (here, in joblib's or Ray's
    workers, as submitit jobs) and hand back each job's ``JobReturn``: its exit status is
    ``return_value``, its run folder ``hydra_cfg.hydra.runtime.output_dir``.
    """
    # The base config holds no sweep (each job composes its own); the sweeper gets them all.
    fixed = [o for o in overrides if not _is_sweep(o)]
    with _composed(conf_dir, [*fixed, "hydra.mode=MULTIRUN"]) as cfg:
        return _sweep_composed(cfg, overrides, task)


def _sweep_composed(
    cfg: DictConfig, overrides: Sequence[str], task: Callable[[DictConfig], int]
) -> list[JobReturn]:
    """The sweep of ``cfg``, composed in the Hydra initialised now (jobs compose from it)."""
    from hydra.core.plugins import Plugins
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.hydra.overrides.task = list(overrides)
    callbacks = HydraCallbacks(cfg)
    callbacks.on_multirun_start(config=cfg, config_name=_CONFIG)
    sweeper = Plugins.instance().instantiate_sweeper(
        config=cfg, hydra_context=_context(callbacks), task_function=task
    )
    returns = sweep_stop.together(cfg, lambda: sweeper.sweep(arguments=list(overrides)))
    callbacks.on_multirun_end(config=cfg, config_name=_CONFIG)
    return _flat(returns)


def job_statuses(returns: list[JobReturn]) -> list[tuple[int, Path]]:
    """Each job's exit status and run folder, from what the sweeper handed back."""
    return [
        (int(job.return_value), Path(str(job.hydra_cfg.hydra.runtime.output_dir)))
        if job.hydra_cfg
        else (int(job.return_value), Path())
        for job in returns
    ]


def _is_sweep(override: str) -> bool:
    """Whether an override sweeps (``a=1,2``, ``range(3)``), as Hydra's parser reads it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        (parsed,) = OverridesParser.create().parse_overrides([override])
    except HydraException:
        return False  # Hydra says what is wrong with it when it composes
    return bool(parsed.is_sweep_override())


def _flat(returns: object) -> list[JobReturn]:
    """The sweeper's answer (a list of batches of ``JobReturn``) as one list."""
    from hydra.core.utils import JobReturn

    if isinstance(returns, JobReturn):
        return [returns]
    if isinstance(returns, list | tuple):
        return [job for batch in returns for job in _flat(batch)]
    return []
