"""Issue 23.12: the first hour, smoothed (what a new user tried, one test per case)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loguru import logger
from omegaconf import OmegaConf

from runner.limits import shared_limits
from runner.limits.shared_limits import FileBucket, Holder
from tests import servers
from tests.helpers import ROOT, runner_argv, runner_env, write_jsonl

_NO_KEYS = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}


def _command(module: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """A command run with no API key in its environment."""
    import os

    env = {**_NO_KEYS, "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_readme_sweep_needs_no_key() -> None:
    pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (models,) = re.findall(r"python -m runner -m experiment=demo model=(\S+)", readme)
    assert len(models.split(",")) >= 2  # a sweep across models
    for model in models.split(","):
        config = OmegaConf.load(ROOT / "conf" / "model" / f"{model}.yaml")
        assert config.api == "local", model  # no key, no server
        checked = _command("runner.check", "experiment=demo", f"model={model}")
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_check_refuses_a_parameter_the_local_model_does_not_take(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
    record = {"prompt": "hi", "api": "local", "model_name": "gemma-3-270m"}
    write_jsonl(
        tmp_path / "e.jsonl",
        [
            {**record, "parameters": {"temperature": 0.5}},
            {**record, "parameters": {"temprature": 0.5}},
        ],
    )
    checked = _command("runner.check", "experiment=e", f"experiments_dir={tmp_path}")
    assert checked.returncode == 2, checked.stdout + checked.stderr
    (problem,) = [line for line in checked.stdout.splitlines() if "temprature" in line]
    assert f"{tmp_path / 'e.jsonl'}:2: parameters.temprature:" in problem
    assert "did you mean 'temperature'?" in problem
    assert "Traceback" not in checked.stderr


def test_every_command_takes_key_value(tmp_path: Path) -> None:
    outputs = tmp_path / "out put"
    outputs.mkdir()
    stats = _command("runner.cache", "stats", f"cache_dir={tmp_path / 'cache'}")
    assert stats.returncode == 0 and "no response cache at" in stats.stdout, stats.stderr
    indexed = _command("runner.index", f"outputs_dir={outputs}", "rebuild=true")
    assert indexed.returncode == 0, indexed.stderr
    queried = _command(
        "runner.query", f"outputs_dir={outputs}", "format=json", "SELECT 42 AS answer"
    )
    assert queried.returncode == 0, queried.stderr
    assert json.loads(queried.stdout) == [{"answer": 42}]
    flags = _command("runner.query", "--outputs-dir", str(outputs), "SELECT 1 AS one")
    assert flags.returncode == 0, flags.stderr  # the flags stay
    from runner.cache.__main__ import _parser

    args = _parser().parse_args(["explain", "prompt_id=P", "run_id=R", "cache_dir=/c"])
    assert (args.run_id, args.prompt_id, str(args.cache_dir)) == ("R", "P", "/c")


def test_a_misspelled_report_setting_gets_a_did_you_mean() -> None:
    done = _command("runner.report", "experimnt=x")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: unknown argument 'experimnt=x': did you mean experiment=x? "
        "use run=... experiment=... outputs_dir=... out=..."
    ]


def test_a_limit_left_by_an_ended_process_is_logged_at_debug(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    here = Holder.this_process()
    state = shared_limits._STATE.pack(time.time() + 60, 60.0, ended.pid, here.host)
    seen: list[tuple[str, str]] = []
    sink = logger.add(lambda m: seen.append((m.record["level"].name, m.record["message"])))
    try:
        (tmp_path / "b").write_bytes(state)
        bucket = FileBucket(tmp_path / "b", 60)
        assert bucket.reserve() == 0
        bucket.close()
    finally:
        logger.remove(sink)
    (level,) = [lvl for lvl, message in seen if "that has ended" in message]
    assert level == "DEBUG"


@pytest.mark.integration
def test_a_sweep_ends_with_a_summary_and_a_compare_command(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    write_jsonl(
        tmp_path / "experiments" / "e.jsonl",
        [{"id": i, "prompt": "q", "api": "openai", "model_name": "m-sweep"} for i in (1, 2)],
    )
    done = subprocess.run(
        runner_argv(tmp_path, "-m", "experiment=e", "max_concurrency=1,2", "max_queries=6000"),
        cwd=ROOT, env=runner_env(llmock_server.url), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    *_, sweep, compare = done.stdout.strip().splitlines()
    runs = sorted((tmp_path / "outputs" / "e").iterdir())
    assert sweep == f"Sweep:   2 runs (2 exited 0): {runs[0]}, {runs[1]}"
    assert compare.startswith("Compare: ") and "runner.report experiment=e" in compare
    env = {**runner_env(), "PYTHONPATH": str(ROOT)}
    compared = subprocess.run(
        ["bash", "-c", compare.removeprefix("Compare: ")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    assert (tmp_path / "outputs" / "e" / "report.html").is_file()
