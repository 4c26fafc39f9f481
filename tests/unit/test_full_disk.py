"""Issue 10.5: a full disk is a clear stop.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_full_disk.py.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from runner.errors import DiskFullError
from runner.output.run_folder import RunFolder
from runner.output.writer import ResultWriter
from tests.helpers import write_jsonl


def _no_space(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_run_json_is_never_replaced_by_an_empty_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    folder.write_meta({"status": "running"})
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(DiskFullError, match=r"run\.json: the disk is full \(.* bytes free"):
        folder.write_meta({"status": "failed"})
    assert json.loads(folder.meta.read_text()) == {"status": "running"}  # the old one kept
    assert not list(folder.path.glob("*.tmp"))


class _FillsUp:
    """A file handle whose disk fills in the middle of the next write."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def write(self, data: Any) -> int:
        self.real.write(bytes(data)[:5])  # part of the line reaches the disk, then it is full
        raise OSError(errno.ENOSPC, "No space left on device")

    @property
    def closed(self) -> bool:
        return bool(self.real.closed)

    def close(self) -> None:
        self.real.close()


def test_a_refused_line_is_cut_back_and_every_line_before_kept(tmp_path: Path) -> None:
    path = tmp_path / "completed.jsonl"
    writer = ResultWriter(path)
    writer.write({"id": "a"})
    writer._handle = _FillsUp(writer._handle)  # type: ignore[assignment]
    with pytest.raises(DiskFullError, match="could not write results"):
        writer.write({"id": "b"})
    with pytest.raises(DiskFullError):  # later results are refused the same way
        writer.write({"id": "c"})
    writer.close()
    assert path.read_bytes() == b'{"id":"a"}\n'


def test_a_csv_export_that_does_not_fit_leaves_no_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.output import export

    source = write_jsonl(tmp_path / "completed.jsonl", [{"id": "a", "usage": {"n": 1}}])
    monkeypatch.setattr(os, "replace", _no_space)
    with pytest.raises(DiskFullError, match=r"the CSV export .*results\.csv: the disk is full"):
        export.export_csv(source, tmp_path / "results.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["completed.jsonl"]
