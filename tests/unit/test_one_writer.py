"""Issue 10.4: one writer per run folder.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_one_writer.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_the_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    """Unit: a second holder is refused in this process too (flock is per open file)."""
    from runner.errors import BadInputError
    from runner.output.run_lock import RunLock

    first, second = RunLock(tmp_path / ".lock"), RunLock(tmp_path / ".lock")
    first.acquire("r")
    with pytest.raises(BadInputError, match=f"process {os.getpid()}"):
        second.acquire("r")
    first.release()
    second.acquire("r")
    second.release()
