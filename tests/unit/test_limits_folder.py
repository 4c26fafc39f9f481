"""A shared-limits folder that cannot be used is one line, exit 2, before the run starts.

With ``XDG_CACHE_HOME`` under a file (or a read-only home), the default
``~/.cache/runner/limits`` could not be made: the run started, then stopped with
"unexpected NotADirectoryError ... please report it" as its first prompt was paced.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.config.schema import RunConfig
from runner.errors import ConfigError
from runner.limits.from_settings import request_limit
from runner.limits.group_limits import check_store
from runner.limits.shared_limits import SharedLimits


def test_the_default_folder_under_a_file_is_refused_naming_limits_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "afile"))
    with pytest.raises(ConfigError, match=r"limits_dir: .*afile/runner/limits.*shared_limits=none"):
        check_store(RunConfig())


def test_a_run_that_shares_no_limits_needs_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "afile"))
    check_store(RunConfig(shared_limits="none"))
    check_store(RunConfig(shared_limits="file", limits_dir=str(tmp_path / "mine")))
    assert (tmp_path / "mine").is_dir()


def test_a_folder_that_went_after_the_check_is_the_same_line(tmp_path: Path) -> None:
    folder = tmp_path / "limits"
    store = SharedLimits(folder)
    os.rmdir(folder)
    folder.write_text("a file now", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot keep the shared limits"):
        store.bucket("g", request_limit(60.0))
