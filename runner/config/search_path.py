"""The user's own ``conf/`` folders on Hydra's search path, registered in one place.

A ``conf/`` inside or beside the experiments folder holds the user's models, evaluation
steps, rephrasings and experiments. :func:`use_config_dirs` puts it before the project's
``conf/`` on Hydra's search path (a :class:`SearchPathPlugin`), so every group option is
looked up there first: ``model=mine``, ``evaluation.<step>.model=mine`` and
``evaluation=mine`` all find the user's files. A folder with its own ``config.yaml`` comes
after the project's instead, so the project's primary config stays the one composed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

PROVIDER = "runner (conf/ beside the experiments)"


def user_config_dirs(experiments_dir: Path, conf_dir: Path) -> list[Path]:
    """The user's config folders that exist: ``conf/`` inside, then beside, the experiments."""
    experiments = experiments_dir.expanduser().resolve()
    main = conf_dir.resolve()
    found = [experiments / "conf", experiments.parent / "conf"]
    return list(dict.fromkeys(p for p in found if p.is_dir() and p != main))


def config_dirs(user_dirs: Sequence[Path], conf_dir: Path) -> list[Path]:
    """Every config folder in the order Hydra searches them."""
    first = [d for d in user_dirs if not (d / "config.yaml").is_file()]
    last = [d for d in user_dirs if (d / "config.yaml").is_file()]
    return [*first, conf_dir, *last]


class UserConfigs(SearchPathPlugin):
    """Puts the folders :func:`use_config_dirs` was given on Hydra's search path."""

    dirs: ClassVar[tuple[Path, ...]] = ()

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        with_primary = [p for p in self.dirs if (p / "config.yaml").is_file()]
        for path in reversed([p for p in self.dirs if p not in with_primary]):
            search_path.prepend(PROVIDER, f"file://{path}")
        for path in with_primary:
            search_path.append(PROVIDER, f"file://{path}")


def remember_config_dirs(user_dirs: Sequence[Path]) -> None:
    """The user's folders :func:`use_config_dirs` puts on the search path (no plugin scan)."""
    UserConfigs.dirs = tuple(user_dirs)


def use_config_dirs(user_dirs: Sequence[Path] | None = None) -> None:
    """Search ``user_dirs`` (by default those remembered) in every composition from now on.

    Registering the plugin makes Hydra scan every installed plugin (each launcher's module
    and config: a tenth of a second), so a run that composes nothing does not call this.
    """
    if user_dirs is not None:
        remember_config_dirs(user_dirs)
    from hydra.core.plugins import Plugins

    Plugins.instance().register(UserConfigs)  # idempotent
