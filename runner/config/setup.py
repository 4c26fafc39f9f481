"""Hydra set-up shared by the command line, the Python API and the tests.

``experiment=NAME`` selects ``conf/experiment/NAME.yaml`` when there is one; otherwise it
selects ``experiments/NAME.jsonl`` or ``experiments/NAME.csv``, for which a config node is
registered on the fly, so a plain prompto file needs no YAML of its own.
"""

from __future__ import annotations

import contextlib
import glob
import secrets
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

from runner.config.choices import check_group_choices
from runner.config.folders import check_folder_settings
from runner.config.keys import check_override_keys
from runner.config.models import as_choices, check_model_choices, name_models
from runner.config.overrides import override_values
from runner.config.schema import register_configs
from runner.config.search_path import (
    config_dirs,
    remember_config_dirs,
    use_config_dirs,
    user_config_dirs,
)
from runner.config.values import check_override_values
from runner.errors import BadInputError, ConfigError
from runner.run_dirs import LATEST, check_name, latest_run, note_new_folders
from runner.shards import shard_run_name

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

# conf/hydra/launcher/<plugin>.yaml layers project defaults on a launcher plugin's schema on
# purpose (typos still fail against the schema); Hydra 1.3 warns about it every time.
warnings.filterwarnings(
    "ignore",
    message=r"\s*'hydra/launcher/\w+' is validated against ConfigStore schema",
    category=UserWarning,
)
EXPERIMENT_SUFFIXES = (".jsonl", ".csv")
_GROUPS = ("experiment", "model", "evaluation", "rephrase")


def new_run_id() -> str:
    """A run id that sorts by time and does not collide between parallel sweep jobs."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def _experiment_name(name: str, file: str) -> str:
    if name:
        return name
    return Path(file).stem if file else "experiment"


def _run_path(
    outputs_dir: str,
    name: str,
    file: str,
    run_id: str,
    resume: str,
    shard: int | None = None,
    shards: int = 1,
    sweep_dir: str = "",
) -> str:
    """``<experiment>/<run id>``: the run given, resumed (``latest``: the newest), or new.

    Shard K of N (``shards=N shard=K``) runs in ``<run id>.shard<K>of<N>``. In a sweep the
    shards share one run id without ``run_id=``: the sweep folder's name, which every job of
    the sweep resolves alike (Hydra copies the launcher's resolver cache into each job).
    """
    experiment = _experiment_name(str(name), str(file))
    check_name("experiment", experiment)  # the command line checked already: a second line
    # Out-of-range values are left to the settings check, which names them.
    sharded = shard is not None and 0 <= int(str(shard)) < int(shards or 1)
    if resume == LATEST:
        found = latest_run(Path(outputs_dir), experiment)
        # No run yet: the run itself reports it, naming the folder it looked in.
        run = found.name if found else LATEST
    else:
        fresh = Path(str(sweep_dir)).name if sharded and sweep_dir else ""
        # Outside a sweep, run_id=NAME joins the shards (each invocation names it alike).
        run = str(resume or run_id or fresh or new_run_id())
        check_name("resume" if resume else "run_id", run)
    if sharded and run != LATEST:
        run = shard_run_name(run, int(str(shard)), int(shards))
    # Hydra makes this folder next: clean-up may remove only what did not exist before.
    note_new_folders(Path(str(outputs_dir)) / experiment / run)
    return f"{experiment}/{run}"


def register_resolvers() -> None:
    """Register the resolvers the YAML in ``conf/`` uses (idempotent)."""
    # Cached, so every use within one job resolves to the same new run id.
    if not OmegaConf.has_resolver("runner.run_path"):
        OmegaConf.register_new_resolver("runner.run_path", _run_path, use_cache=True)


def quote_plain_values(args: Sequence[str]) -> list[str]:
    """Command-line overrides with a value Hydra cannot read unquoted put in quotes.

    The shell takes the user's quotes off ``experiments_dir='my exps ü'``; Hydra's grammar
    then refuses the space or the ``ü``. Quoting such a plain value is the only reading.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    fixed = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and not arg.startswith("-") and value and value[0] not in "'\"[{(":
            quoted = value.replace("\\", "\\\\").replace("'", "\\'")
            try:
                (override,) = parser.parse_overrides([arg])
                # A group option is a name: experiment=401 is the file 401.jsonl.
                plain = (
                    key.lstrip("+~").partition("@")[0] not in _GROUPS
                    or override.is_sweep_override()
                    or isinstance(override.value(), str | list)
                )
            except HydraException:
                plain = False
            if not plain:
                with contextlib.suppress(HydraException):
                    parser.parse_overrides([f"{key}='{quoted}'"])
                    arg = f"{key}='{quoted}'"
        fixed.append(arg)
    return fixed


def check_run_names(overrides: Sequence[str]) -> None:
    """``run_id`` and ``resume`` are names, checked before Hydra makes any folder.

    Raises:
        ConfigError: a value that is a path (``..``, ``/x``), ``.`` or empty.
    """
    for key in ("run_id", "resume", "experiment.name"):
        for value in override_values(overrides, key):
            if key == "resume" and value == LATEST:
                continue
            check_name(key, value)
    for value in override_values(overrides, "experiment"):
        if value in ("", ".", "..") or value.startswith("/") or ".." in Path(value).parts:
            raise ConfigError(f"experiment={value!r} is not an experiment name")


def _experiments_dir(overrides: Sequence[str], base: Path | None = None) -> Path:
    """The experiments folder the overrides name (``experiments`` by default)."""
    dirs = override_values(overrides, "experiments_dir") or ["experiments"]
    experiments_dir = Path(dirs[-1]).expanduser()
    return (
        experiments_dir if experiments_dir.is_absolute() else (base or Path.cwd()) / experiments_dir
    )


def help_page(overrides: Sequence[str], conf_dirs: Sequence[Path] = (CONF_DIR,)) -> str:
    """The page ``python -m runner --help`` prints, with the options these folders offer."""
    from runner.config.help import help_text  # the help page: only when asked for

    return help_text(conf_dirs, _experiments_dir(overrides))


def register_experiment_files(
    overrides: Sequence[str], conf_dirs: Sequence[Path] = (CONF_DIR,), base: Path | None = None
) -> None:
    """Make ``experiment=NAME`` work for files in the experiments folder.

    Args:
        overrides: the command-line overrides (read for ``experiments_dir`` and ``experiment``).
        conf_dirs: the config folders, whose ``experiment/NAME.yaml`` files take precedence.
        base: the folder relative paths are taken from (the current one by default).

    Raises:
        BadInputError: an experiment named on the command line has no file and no YAML.
    """
    experiments_dir = _experiments_dir(overrides, base)
    cs = ConfigStore.instance()
    for name in override_values(overrides, "experiment"):
        yamls = [d / "experiment" / f"{name}.yaml" for d in conf_dirs]
        if any(p.exists() for p in yamls):
            continue
        found = [experiments_dir / f"{name}{s}" for s in EXPERIMENT_SUFFIXES]
        existing = [p for p in found if p.exists()]
        if not existing:
            others = sorted(p.name for p in experiments_dir.glob(f"{glob.escape(name)}.*"))
            hint = (
                f" Found {', '.join(others)}, but experiment files must end in .jsonl or .csv."
                if others
                else ""
            )
            raise BadInputError(
                f"No experiment '{name}': looked for {found[0]}, {found[1]} and "
                f"{' and '.join(str(p) for p in yamls)}.{hint}"
            )
        if len(existing) > 1:
            raise BadInputError(
                f"Experiment '{name}' is ambiguous: both {existing[0]} and {existing[1]} exist; "
                "rename one."
            )
        cs.store(
            group="experiment",
            name=name,
            node={"experiment": {"file": existing[0].name, "name": name}},
            package="_global_",
        )


def prepare_hydra(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> None:
    """Everything Hydra needs before it composes: search path, schemas, resolvers, files.

    ``overrides`` are spelled for Hydra already (:func:`runner.config.models.as_choices`).

    Raises:
        ConfigError: an override's key is not a runner setting, its value is not of the
            setting's type, it names no model or group option, or a folder setting names a
            file or a folder that cannot be written.
        BadInputError: an experiment named on the command line has no file and no YAML.
    """
    register_for_compose(overrides, check_command(overrides, conf_dir))


def check_command(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> list[Path]:
    """Check a command line's overrides against the config folders; those folders, in order.

    The checks of :func:`prepare_hydra`, without what only Hydra's composing needs.

    Raises:
        ConfigError: as :func:`prepare_hydra`.
    """
    user_dirs = user_config_dirs(_experiments_dir(overrides), conf_dir)
    remember_config_dirs(user_dirs)
    dirs = config_dirs(user_dirs, conf_dir)
    check_override_keys(overrides, dirs)
    check_override_values(overrides)
    check_model_choices(overrides, dirs)
    check_group_choices(overrides, dirs)
    check_folder_settings(overrides)
    check_run_names(overrides)
    return dirs


def register_for_compose(overrides: Sequence[str], dirs: Sequence[Path]) -> None:
    """What Hydra's composing needs: the search path, schemas, resolvers, experiment files.

    Raises:
        BadInputError: an experiment named on the command line has no file and no YAML.
    """
    use_config_dirs()
    register_configs()
    register_resolvers()
    register_experiment_files(overrides, dirs)


def experiments_dir(overrides: Sequence[str]) -> Path:
    """The experiments folder the overrides name, from the current folder."""
    return _experiments_dir(overrides)


def compose_config(
    overrides: Sequence[str] = (), conf_dir: Path = CONF_DIR, config_name: str = "config"
) -> DictConfig:
    """Compose the configuration in-process, as the command line would."""
    overrides = quote_plain_values(as_choices(overrides))
    prepare_hydra(overrides, conf_dir)
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return name_models(cfg, choices)
