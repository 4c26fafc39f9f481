"""The composed config of a plain run, remembered so the next identical command skips Hydra's.

Composing a command line through Hydra (its plugin scan, the schemas, the defaults list,
merging every YAML) costs a third of a one-prompt run. What it composes is a function of
the command's overrides and of the files it reads, so a plain run remembers the composed,
UNRESOLVED config (``${oc.env:...}``, the run's folder and id are still interpolations, and
resolve at load exactly as after a fresh compose) under runner's cache home, keyed by
everything it came from: runner's and Hydra's versions, runner's code, the exact
override list, the working folder, the experiments folder, and every file of every config
folder searched (path, size, mtime_ns and a hash of its bytes: a file added, removed or
edited is a new key).
An entry that cannot be read is a miss. Only a config the run accepted is remembered, and
config never holds a literal key (refused by :func:`runner.config.settings.to_settings`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner import redaction
from runner.paths import runner_cache_home

if TYPE_CHECKING:
    from omegaconf import DictConfig

_FOLDER = "composed"
# Settings that only feed interpolations resolved at load (the run's id and folder): a
# command that differs from a remembered one only in their values loads it and sets them
# as Hydra sets a value override (a group's defaults list cannot name a value).
_SET_AT_LOAD = frozenset({"run_id", "resume", "outputs_dir"})
# Entries kept: enough for a few command lines in turn; the oldest go first.
_KEEP = 32
# runner's code: its schemas (and the providers' settings blocks) shape what is composed.
_CODE = Path(__file__).resolve().parents[1]


def _stats(folder: Path, suffix: str = "", *, content: bool = False) -> list[str]:
    """Every file under ``folder`` as ``path size mtime_ns``, sorted; none when absent.

    With ``content``, each file's bytes are hashed too: a config file edited with its size
    kept and its time put back (``cp -p``, ``rsync -a``, ``touch -r``) is a new key.
    """
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(suffix):
                continue
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
                digest = _digest(path) if content else ""
            except OSError:
                continue
            found.append(f"{path} {st.st_size} {st.st_mtime_ns} {digest}")
    return found


def _digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.blake2b(handle.read(), digest_size=16).hexdigest()


def _folder_stat(folder: Path) -> str:
    try:
        st = folder.stat()
    except OSError:
        return f"{folder} absent"
    return f"{folder} {st.st_mtime_ns}"


def cache_key(overrides: Sequence[str], conf_dirs: Sequence[Path], experiments_dir: Path) -> str:
    """The key of the config these overrides compose to with these config folders."""
    from hydra import __version__ as hydra_version
    from omegaconf import __version__ as omegaconf_version

    from runner import __version__

    parts = [
        __version__,
        hydra_version,
        omegaconf_version,
        sys.version,
        os.getcwd(),
        repr([_masked(o) for o in overrides]),
        repr([str(d) for d in conf_dirs]),
        # The experiments folder's listing is in the help page and in experiment=NAME.
        _folder_stat(experiments_dir),
        *(line for d in conf_dirs for line in _stats(d, content=True)),
        *_stats(_CODE, ".py"),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _set_at_load(override: str) -> bool:
    return override.partition("=")[0] in _SET_AT_LOAD


def _masked(override: str) -> str:
    return override.partition("=")[0] + "=(set at load)" if _set_at_load(override) else override


def set_at_load(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Give a loaded config this command's values, as Hydra's composing gives them.

    The values of the settings the key leaves out, the task's overrides, and the
    ``override_dirname`` Hydra makes of them (its rule: sorted, excluded keys left out).
    """
    import re

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    task = [o for o in parsed if not o.is_hydra_override()]
    for override in task:
        if _set_at_load(override.input_line or ""):
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
    cfg.hydra.overrides.task = [o.input_line for o in task]
    dirname = cfg.hydra.job.config.override_dirname
    lines = sorted(str(o.input_line) for o in task if o.key_or_group not in dirname.exclude_keys)
    cfg.hydra.job.override_dirname = re.sub("[=]", dirname.kv_sep, dirname.item_sep.join(lines))


def _path(key: str) -> Path:
    return runner_cache_home() / _FOLDER / f"{key}.pickle"


def load(key: str) -> DictConfig | None:
    """The config remembered under ``key``, or None (none, or one that cannot be read)."""
    from omegaconf import DictConfig

    path = _path(key)
    try:
        st = path.stat()
        # A pickle runs code as it loads: only this user's own file, writable by no other.
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None
        cfg = pickle.loads(path.read_bytes())
    except Exception:  # absent, truncated, from another version: a miss
        return None
    return cfg if isinstance(cfg, DictConfig) else None


def dump(cfg: DictConfig) -> bytes:
    """The config as :func:`save` stores it (taken before the run changes it); empty when
    it holds what composing read from the environment (``hydra.job.env_copy``)."""
    if cfg.hydra.job.get("env_copy") or _holds_url_secret(cfg):
        return b""
    return pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL)


def _holds_url_secret(cfg: DictConfig) -> bool:
    """Whether a URL in ``cfg`` carries a password or a ``key=``/``token=`` parameter.

    Config refuses literal keys, but a URL's credentials are allowed (they are needed to
    send): such a config is composed each time rather than written to the cache.
    """
    from omegaconf import OmegaConf

    text = OmegaConf.to_yaml(cfg)  # unresolved: ${oc.env:...} stays a name, not its value
    return redaction.public_url(text) != text


def save(key: str, data: bytes) -> None:
    """Remember ``data`` under ``key``; a cache that cannot be written is no error."""
    if not data:
        return
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
        _trim(path.parent)
    except OSError:
        pass


def _trim(folder: Path) -> None:
    entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:-_KEEP]:
        old.unlink(missing_ok=True)
