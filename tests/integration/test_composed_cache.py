"""A plain run remembers its composed config: a hit gives the RunConfig a fresh compose gives.

Issue 25 item 6 (speed): composing through Hydra is a third of a one-prompt run, so a plain
run loads the config an identical command composed before (runner.config.composed), keyed
by the overrides and every config file searched; interpolations resolve at load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, runner_argv, runner_env, write_jsonl


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


_WATCHED = """
import sys
import runner.__main__ as entry

code = entry.main(sys.argv[1:])
print("SCANNED:", any(m.startswith("hydra_plugins.") for m in sys.modules))
sys.exit(code)
"""


@pytest.mark.integration
def test_the_second_plain_run_skips_hydras_plugin_scan(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"api": "openai", "model_name": "gpt-4o-mini", "prompt": "hi"}],
    )
    env = runner_env(
        llmock_server.url,
        PYTHONPATH=os.pathsep.join(sys.path),
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
    )
    seen = []
    for run_id in ("one", "two"):
        argv = runner_argv(tmp_path, "experiment=exp", f"run_id={run_id}")
        argv[1:3] = ["-c", _WATCHED]
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        seen.append(done.stdout.split("SCANNED: ")[-1].strip())
        assert f"Report:  {tmp_path}" in done.stdout
    assert seen == ["True", "False"]
    second = next((tmp_path / "outputs").glob("exp/two"))
    assert "run_id=two" in (second / ".hydra" / "overrides.yaml").read_text()
