"""A thin entry point (issue 25, item 6): Hydra's public API only, the exit status returned.

Sweeps went through ``hydra.main`` and each job left its exit status in a temp folder
(``runner-exit-*``); a plain run called Hydra's private ``Callbacks``; the command-line
helper read argparse's private ``_SubParsersAction``. Now a sweep's jobs hand their status
back in their ``JobReturn`` (whichever launcher ran them), and a run imports none of the
index's or the report's heavy modules before it sends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

import runner
from tests import servers
from tests.helpers import ROOT, runner_argv, runner_env, write_jsonl

RUNNER = Path(runner.__file__).parent


def _sweep(tmp_path: Path, server: servers.Server, *extra: str) -> subprocess.CompletedProcess[str]:
    """A two-job sweep: one job's server refuses connections (its prompt ends in error)."""
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"api": "openai", "model_name": "gpt-4o-mini", "prompt": "hi"}],
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    urls = f"apis.openai.base_url=http://127.0.0.1:9/v1,{server.url}/v1"
    argv = runner_argv(tmp_path, "-m", "experiment=exp", urls, "max_attempts=1", *extra)
    env = runner_env(server.url, TMPDIR=str(scratch))
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("runner-exit-")]
    return done


@pytest.mark.integration
def test_a_sweep_with_a_failed_job_exits_1_with_no_exit_folder(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    done = _sweep(tmp_path, llmock_server)
    assert done.returncode == 1, done.stderr
    assert "Sweep:   2 runs (1 exited 0, 1 exited 1)" in done.stdout


@pytest.mark.integration
def test_a_joblib_sweep_hands_each_jobs_status_back(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    # The jobs run in joblib's worker processes: their statuses come back in JobReturn.
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    done = _sweep(tmp_path, llmock_server, "hydra/launcher=joblib")
    assert done.returncode == 1, done.stderr
    assert "Sweep:   2 runs (1 exited 0, 1 exited 1)" in done.stdout


_BEFORE_SENDING = """
import sys
import runner.run.stages
from runner import __main__ as entry

heavy = ("pandas", "duckdb", "jinja2", "jsonschema", "genai_prices", "rich", "numpy")
seen = []
send_all = runner.run.stages.send_all

def watched(*args, **kwargs):
    seen.extend(m for m in heavy if m in sys.modules)
    return send_all(*args, **kwargs)

runner.run.stages.send_all = watched
code = entry.main(sys.argv[1:])
print("HEAVY:", ",".join(seen) or "-")
sys.exit(code)
"""


@pytest.mark.integration
def test_a_run_imports_nothing_heavy_before_it_sends(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    # The index (duckdb), the report (jinja2), pandas and the output checks (jsonschema)
    # are imported when they are used, after sending, or never.
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"api": "openai", "model_name": "gpt-4o-mini", "prompt": "hi"}],
    )
    argv = runner_argv(tmp_path, "experiment=exp")
    argv[1:3] = ["-c", _BEFORE_SENDING]  # the same command line, watched
    env = runner_env(llmock_server.url, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY: -" in done.stdout, done.stdout


class Recorder(Callback):
    """A callback a config lists under ``hydra.callbacks``: it notes what Hydra tells it."""

    events: ClassVar[list[object]] = []

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.events.append("run_start")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.events.append("multirun_start")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        self.events.append(("job_end", job_return.return_value))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.events.append("run_end")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.events.append("multirun_end")
