"""Issue 10 item 2: queries are read-only for real, whatever the SQL tries.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_query_readonly.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runner.query import query_df
from tests.unit.test_query_readonly import _hashes as _hashes
from tests.unit.test_query_readonly import outputs as outputs

ROOT = Path(__file__).resolve().parents[2]


def test_cli_explain_analyze_copy_cannot_overwrite(outputs: Path) -> None:
    """The reported attack, through the real command: exit 2, one line, index intact."""
    before = _hashes(outputs)
    index = outputs / "index.duckdb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.query",
            "--outputs-dir",
            str(outputs),
            f"EXPLAIN ANALYZE COPY (SELECT 'gone') TO '{index}' (FORMAT csv)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "refused" in proc.stderr and "Traceback" not in proc.stderr
    assert _hashes(outputs) == before
    assert query_df("SELECT count(*) AS n FROM responses", outputs)["n"][0] == 3
