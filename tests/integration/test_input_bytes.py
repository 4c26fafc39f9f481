"""Issue 10.6: every input byte is checked.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_input_bytes.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, runner_argv, runner_env
from tests.unit.test_input_bytes import BAD_LINE as BAD_LINE
from tests.unit.test_input_bytes import BAD_OFFSET as BAD_OFFSET
from tests.unit.test_input_bytes import GOOD as GOOD
from tests.unit.test_input_bytes import _experiment as _experiment


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=ROOT,
        env=runner_env("http://127.0.0.1:9"),  # nothing may be sent: no server listens
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_run_and_the_check_exit_2_on_bad_bytes_without_traceback(tmp_path: Path) -> None:
    _experiment(tmp_path, "e.jsonl", GOOD + BAD_LINE)
    run = _cli(tmp_path, *runner_argv(tmp_path, "experiment=e"))
    check = _cli(
        tmp_path,
        sys.executable,
        "-m",
        "runner.check",
        "experiment=e",
        f"experiments_dir={tmp_path / 'experiments'}",
    )
    for done in (run, check):
        assert done.returncode == 2, done.stderr
        output = done.stdout + done.stderr
        assert "e.jsonl:2:" in output and f"byte offset {BAD_OFFSET}" in output
        assert "Traceback" not in output
    assert not (tmp_path / "outputs" / "e").exists()  # no run folder left behind


def test_the_check_refuses_an_open_csv_quote(tmp_path: Path) -> None:
    # Today the open quote on line 3 swallows line 4 up to its quote: one valid record.
    rows = b'zero,openai,m\n"one,openai,m\ntwo,"x",openai,m\n'
    _experiment(tmp_path, "e.csv", b"prompt,api,model_name\n" + rows)
    check = _cli(
        tmp_path,
        sys.executable,
        "-m",
        "runner.check",
        "experiment=e",
        f"experiments_dir={tmp_path / 'experiments'}",
    )
    assert check.returncode == 2, check.stdout
    assert "e.csv:3" in check.stdout + check.stderr
    assert "Traceback" not in check.stderr
