"""The results index: incremental updates, schema drift, torn and bad lines, locking.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_index_ingest.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.test_index_ingest import lines as lines
from tests.unit.test_index_ingest import make_run as make_run
from tests.unit.test_index_ingest import record as record
from tests.unit.test_index_ingest import sql as sql
from tests.unit.test_index_ingest import write_meta as write_meta

ROOT = Path(__file__).resolve().parents[2]


def test_two_indexers_at_once(tmp_path: Path) -> None:
    """Concurrent indexers serialise on the lock and leave a consistent index."""
    for r in range(20):
        make_run(tmp_path, f"exp{r % 3}", f"r{r}", lines([record(i, f"r{r}") for i in range(200)]))
    cmd = [sys.executable, "-m", "runner.index", "--outputs-dir", str(tmp_path), "--wait", "60"]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert sql(tmp_path, "SELECT count(*), count(DISTINCT run_id) FROM responses") == [(4000, 20)]
