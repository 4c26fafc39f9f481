"""Honest rates in the summary (issue 13.4): a paced run against llmock.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_achieved_rate.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import run_cli, write_jsonl


@pytest.mark.integration
def test_console_and_run_json_show_a_dash_for_a_short_burst(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    records = [
        {"id": i, "api": "openai", "model_name": "gpt-rate", "prompt": f"q{i}"} for i in range(3)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    done = run_cli(tmp_path, llmock_server.url, "experiment=exp", "max_queries=6000")
    assert done.returncode == 0, done.stderr[-2000:]
    (meta_file,) = (tmp_path / "outputs" / "exp").glob("*/run.json")
    meta = json.loads(meta_file.read_text())
    groups = meta.get("summary", meta)["groups"]
    assert groups["all"]["achieved_per_minute"] is None
    row = next(line for line in (done.stdout + done.stderr).splitlines() if " all " in line)
    assert row.split()[-1] == "-"
