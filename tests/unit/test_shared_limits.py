"""Limits shared between processes that send with the same credentials.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_shared_limits.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.limits.shared_limits import FileBucket


def test_two_buckets_on_one_file_share_one_schedule(tmp_path: Path) -> None:
    now = [1000.0]
    a = FileBucket(tmp_path / "b", 60, now=lambda: now[0])  # one a second
    b = FileBucket(tmp_path / "b", 60, now=lambda: now[0])
    waits = [a.reserve(), b.reserve(), a.reserve(), b.reserve()]
    assert waits == pytest.approx([0, 1, 2, 3])
    a.close()
    b.close()
