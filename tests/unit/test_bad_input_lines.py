"""Issue 23 item 9: every bad input is exit 2 with one line naming the file or the setting.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_bad_input_lines.py.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import write_jsonl

RECORD = {"id": "a", "prompt": "hi", "api": "openai", "model_name": "m"}


def _one_line(err: str, *words: str) -> None:
    """``err`` is one ``error:`` line holding ``words``, with no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err and "HYDRA_FULL_ERROR" not in err
    for word in words:
        assert word in lines[0], (word, err)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A working folder with one experiment, experiments/e.jsonl, and a plain file."""
    write_jsonl(tmp_path / "experiments" / "e.jsonl", [RECORD])
    (tmp_path / "afile").write_text("not a folder\n", encoding="utf-8")
    return tmp_path


def test_a_folder_that_cannot_be_written_is_one_line(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root writes anywhere, so the permission check is made to say no."""
    from runner.config.folders import check_folder
    from runner.errors import ConfigError

    denied = project / "ro"
    denied.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != denied and real(p, mode))
    with pytest.raises(ConfigError, match=r"outputs_dir=.*ro/out: cannot write in .*ro "):
        check_folder("outputs_dir", str(denied / "out"))


def test_the_values_a_setting_takes_still_run(project: Path) -> None:
    """The check refuses no value Hydra takes: a sweep, a range, null, a quoted number."""
    from runner.config.values import check_override_values

    check_override_values(
        [
            "max_queries=5",
            "max_queries='7'",
            "max_queries=1,2",
            "max_queries=range(1,3)",
            "max_attempts=3",
            "index=false",
            "max_cost_usd=null",
            "max_queries=${oc.env:N}",
            "experiment=e",
        ]
    )


def _cache_with_an_entry(folder: Path) -> None:
    from runner.cache.store import CacheStore

    CacheStore(folder).close()


def test_cache_clear_on_a_read_only_cache_is_one_line(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runner.cache.__main__ import main
    from runner.cache.store import CacheStore

    folder = project / "c"
    _cache_with_an_entry(folder)

    def read_only(self: CacheStore) -> int:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(CacheStore, "clear", read_only)
    assert main(["clear", "--cache-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    _one_line(err, "cannot be cleared", "readonly database", "--cache-dir")
    assert "please report it" not in err
