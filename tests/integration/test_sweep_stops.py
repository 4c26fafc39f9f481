"""A sweep stops as a whole: Ctrl-C stops it, ``kill -9`` stops its joblib workers.

Before, Ctrl-C stopped the jobs running then and the sweep started the next ones, which sent
(and were billed for) every prompt; and loky's workers outlived a sweep killed with
``kill -9``: they sent every prompt left in their jobs, then hung for good handing their
results back to a process that was gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, get_json, read_jsonl, run_cli, runner_argv, runner_env, write_jsonl

pytestmark = pytest.mark.integration

N = 2000


@pytest.fixture(scope="module")
def slow_llmock() -> Iterator[servers.Server]:
    """llmock answering after 20 ms: a job of N prompts at 4 in flight lasts ~10 s."""
    with servers.llmock("--latency-ms", "20") as server:
        yield server


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _experiment(tmp_path: Path, model: str) -> None:
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"q{i}"}
         for i in range(N)],
    )  # fmt: skip


def _sending(runs: Path, jobs: int) -> bool:
    """Whether ``jobs`` runs have each written 20 results."""
    files = list(runs.glob("*/completed.jsonl")) if runs.exists() else []
    return len(files) == jobs and all(f.read_bytes().count(b"\n") >= 20 for f in files)


def test_a_sweep_killed_9_stops_its_joblib_workers(
    tmp_path: Path, slow_llmock: servers.Server
) -> None:
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="needs the joblib extra")
    _experiment(tmp_path, "gpt-orphan")
    argv = runner_argv(tmp_path, "-m", "experiment=exp", "max_queries=600000",
                       "max_concurrency=4", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                       "max_attempts=1,2")  # fmt: skip
    sweep = subprocess.Popen(argv, cwd=ROOT, env=runner_env(slow_llmock.url),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)  # fmt: skip
    runs = tmp_path / "outputs" / "exp"

    workers: list[int] = []
    try:
        _wait(lambda: _sending(runs, 2), 60, "the sweep's two jobs never started sending")
        workers = _children(sweep.pid)
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=10)
        _wait(lambda: not any(_alive(pid) for pid in workers), 30, "workers outlived the sweep")
    finally:
        sweep.kill()
        for pid in workers:  # only when the test failed: they are gone otherwise
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    sent = get_json(f"{slow_llmock.url}/_llmock/requests")["count"]
    time.sleep(1)
    assert get_json(f"{slow_llmock.url}/_llmock/requests")["count"] == sent  # nothing more
    for run in runs.iterdir():
        assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
        assert 20 <= len(read_jsonl(run / "completed.jsonl")) < N
    first = sorted(runs.iterdir())[0]
    out = run_cli(tmp_path, slow_llmock.url, "experiment=exp", f"resume={first.name}",
                  "max_queries=600000", "max_concurrency=64", timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    ids = [line["id"] for line in read_jsonl(first / "completed.jsonl")]
    assert len(ids) == len(set(ids)) == N


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sighup"])
@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_ctrl_c_or_sigterm_stops_the_whole_sweep(
    tmp_path: Path, slow_llmock: servers.Server, launcher: str, how: str
) -> None:
    """SIGTERM to the sweep's process alone (``timeout``, ``kill``) made joblib kill its
    workers mid-run: their runs said 'running' for good."""
    if launcher == "joblib":
        pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="needs joblib")
    _experiment(tmp_path, "gpt-sweep-stop")
    chosen = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    argv = runner_argv(tmp_path, "-m", "experiment=exp", "max_queries=600000",
                       "max_concurrency=4", *chosen, "max_attempts=1,2,3")  # fmt: skip
    sweep = subprocess.Popen(argv, cwd=ROOT, env=runner_env(slow_llmock.url),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)  # fmt: skip
    runs = tmp_path / "outputs" / "exp"
    running = 2 if launcher == "joblib" else 1

    try:
        _wait(lambda: _sending(runs, running), 60, "the sweep never started sending")
        if how == "ctrl-c":
            os.killpg(sweep.pid, signal.SIGINT)  # Ctrl-C in its terminal: the whole group
        elif how == "sighup":
            os.killpg(sweep.pid, signal.SIGHUP)  # its terminal closed: the whole group
        else:
            sweep.send_signal(signal.SIGTERM)  # the sweep's process alone
        stdout, stderr = sweep.communicate(timeout=60)
    finally:
        sweep.kill()
    assert sweep.returncode == 130, stderr
    # The summary lists only the folders there are (it listed the never-started jobs' too).
    assert f"; {3 - running} not started): " in stdout, stdout
    listed = stdout.split(" not started): ")[1].splitlines()[0].split(", ")
    assert len(listed) == running and all(Path(p).is_dir() for p in listed), stdout
    # (With SIGHUP to the group, loky's resource tracker dies too, and its relaunch prints
    # KeyErrors to a terminal that is gone; nothing of the sweep's is lost or leaked.)
    assert "error: unexpected" not in stderr, stderr
    assert stderr.count("this job is not started") == 3 - running
    done = [json.loads((run / "run.json").read_text())["status"] for run in runs.iterdir()]
    assert done == ["interrupted"] * running  # the others were never started: no folder
    sent = get_json(f"{slow_llmock.url}/_llmock/requests")["count"]
    time.sleep(1)
    assert get_json(f"{slow_llmock.url}/_llmock/requests")["count"] == sent
