"""Issue 12.7: a resume keeps the run's settings.

``resume=ID`` runs with the run's own resolved settings plus only what is overridden now,
says which settings changed, and ``run.json`` keeps every invocation's overrides. Resuming
a complete run says so, sends nothing and leaves ``run.json`` as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import read_jsonl, run_cli, write_jsonl

N = 12


def _first_run(tmp_path: Path, server: servers.Server) -> Path:
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"id": f"p{i}", "api": "openai", "model_name": "m", "prompt": "q"} for i in range(N)],
    )
    out = run_cli(
        tmp_path,
        server.url,
        "experiment=exp",
        "run_id=r1",
        "max_queries=3000",
        "max_attempts=5",
        "csv=true",
    )
    assert out.returncode == 0, out.stderr
    return tmp_path / "outputs" / "exp" / "r1"


@pytest.mark.integration
def test_resume_runs_with_the_runs_settings_and_records_each_invocation(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    run_dir = _first_run(tmp_path, llmock_server)
    completed = run_dir / "completed.jsonl"
    completed.write_text("".join(completed.read_text().splitlines(keepends=True)[:5]))
    (run_dir / "results.csv").unlink()
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", "resume=r1", "max_queries=6000")
    assert out.returncode == 0, out.stderr
    assert "except: max_queries: 3000.0 -> 6000.0" in out.stderr
    assert (run_dir / "results.csv").exists(), "csv=true is the run's own setting"
    meta = json.loads((run_dir / "run.json").read_text())
    assert "max_attempts=5" in meta["overrides"]
    assert meta["config"]["max_queries"] == 3000  # the settings it was started with
    (resume,) = meta["resumes"]
    assert "max_queries=6000" in resume["overrides"] and "resume=r1" in resume["overrides"]
    assert resume["changed"] == {"max_queries": [3000.0, 6000.0]}
    assert len({line["id"] for line in read_jsonl(completed)}) == N
    assert (run_dir / ".hydra" / "resumes").is_dir(), "this resume's Hydra config is kept"


@pytest.mark.integration
def test_resuming_a_complete_run_sends_nothing_and_changes_nothing(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    run_dir = _first_run(tmp_path, llmock_server)
    meta = (run_dir / "run.json").read_bytes()
    lines = (run_dir / "completed.jsonl").read_bytes()
    # A dead endpoint: anything sent would end in error.
    out = run_cli(tmp_path, "http://127.0.0.1:9", "experiment=exp", "resume=r1")
    assert out.returncode == 0, out.stderr
    assert "already complete" in out.stderr
    assert (run_dir / "run.json").read_bytes() == meta
    assert (run_dir / "completed.jsonl").read_bytes() == lines
