"""Queries on the results index: the Python API, read-only refusal, the CLI and its formats.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_index_query.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.test_index_query import _record as _record
from tests.unit.test_index_query import outputs as outputs

ROOT = Path(__file__).resolve().parents[2]


def test_cli_subprocess_bad_sql_has_no_traceback(outputs: Path) -> None:
    """Through the real entry point: exit 2, DuckDB's message, no traceback."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.query",
            "--outputs-dir",
            str(outputs),
            "--format",
            "csv",
            "SELECT status, count(*) AS n FROM responses GROUP BY 1 ORDER BY 1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.splitlines() == ["status,n", "error,3", "ok,4"]
    proc = subprocess.run(
        [sys.executable, "-m", "runner.query", "--outputs-dir", str(outputs), "SELECT 1 +"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Parser Error" in proc.stderr and "Traceback" not in proc.stderr
