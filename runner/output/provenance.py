"""Where a run's results came from: the input's digest, the code and the machine.

Recorded in ``run.json`` for the run and again for every resume, so any result line can
be traced to the exact input, the commit of the experiments' repository, and the versions
of the packages that shape results.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from runner.hashing import file_sha256

# Packages that shape what a run sends and stores; llama-cpp-python only when used.
_PACKAGES = ("hydra-core", "aiohttp", "duckdb")
_LOCAL_PACKAGE = "llama-cpp-python"


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no git on this machine
    return out.stdout if out.returncode == 0 else None


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """The commit and dirtiness of the repository holding ``folder`` (None, None: none)."""
    if not folder.is_dir():
        return None, None
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return commit.strip(), None if status is None else bool(status.strip())


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions(uses_local: bool) -> dict[str, str | None]:
    """runner's, Python's and the result-shaping packages' versions."""
    found: dict[str, str | None] = {
        "runner": _version("runner"),
        "python": platform.python_version(),
    }
    for package in (*_PACKAGES, *((_LOCAL_PACKAGE,) if uses_local else ())):
        found[package] = _version(package)
    return found


def provenance(input_file: Path, experiments_dir: Path, apis: set[str]) -> dict[str, Any]:
    """The provenance record of one invocation of a run."""
    commit, dirty = git_state(experiments_dir)
    return {
        "input_sha256": file_sha256(input_file),
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": versions("local" in apis),
        "host": socket.gethostname(),
        **scheduler_job(),
    }


# The ids a batch scheduler gives the process (set in a SLURM job's environment).
_SLURM_IDS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID")


def scheduler_job() -> dict[str, str]:
    """The SLURM job this run is part of, when it runs under SLURM (else nothing)."""
    return {name.lower(): os.environ[name] for name in _SLURM_IDS if os.environ.get(name)}
