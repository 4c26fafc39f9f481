"""What a run does not pay for at its start and its end (issue 13, item 9: speed).

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_startup.py.
"""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_the_report_imports_neither_pandas_nor_altair() -> None:
    # Both cost about a second at the end of every run; the report's tables are small.
    code = (
        "import sys, runner.run, runner.report.render, runner.report.scores\n"
        "heavy = [m for m in ('pandas', 'altair', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
