"""Issue 10.10: stops end tidily.

After a double Ctrl-C ``run.json`` says ``interrupted`` and the resume command is printed;
that command works as printed from the same folder, with its non-default folders. A
refused resume leaves the run's ``.hydra/`` as it was. No numeric setting takes a negative.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, read_jsonl, run_cli, runner_env, write_jsonl

N = 24


@pytest.fixture(scope="module")
def slow_llmock() -> Iterator[servers.Server]:
    """Answers after 1.5 s, so a second Ctrl-C comes while requests are in flight."""
    with servers.llmock("--latency-ms", "1500") as server:
        yield server


def _env(server: servers.Server) -> dict[str, str]:
    return runner_env(server.url, PYTHONPATH=str(ROOT))


@pytest.mark.integration
def test_double_ctrl_c_records_interrupted_and_the_printed_command_resumes(
    tmp_path: Path, slow_llmock: servers.Server
) -> None:
    # Relative, non-default folders, as a user in their project folder would type them.
    write_jsonl(
        tmp_path / "my exps" / "exp.jsonl",
        [{"id": f"p{i}", "api": "openai", "model_name": "m", "prompt": "q"} for i in range(N)],
    )
    argv = [sys.executable, "-m", "runner", "experiment=exp", "experiments_dir='my exps'"]
    argv += ["outputs_dir=outs", "limits_dir=limits", "progress=off", "index=false"]
    argv += ["max_queries=6000", "max_concurrency=6", "stop_timeout_s=60"]
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=_env(slow_llmock), stderr=subprocess.PIPE, text=True
    )
    completed = tmp_path / "outs" / "exp"
    deadline = time.monotonic() + 30
    while not list(completed.rglob("completed.jsonl")) or not next(
        completed.rglob("completed.jsonl")
    ).read_bytes().count(b"\n"):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never wrote"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    assert proc.poll() is None, "the first Ctrl-C should wait for requests in flight"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    (run_dir,) = completed.iterdir()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    printed = stderr.split("Resume with: ")[1].splitlines()[0]
    command = shlex.split(printed)
    assert command[1:3] == ["-m", "runner"]
    assert command[0] == "python" or Path(command[0]).samefile(sys.executable)
    # Exactly as printed (python_command names this interpreter when `python` is not it).
    if command[0] == "python":
        command[0] = sys.executable
    out = subprocess.run(
        command,
        cwd=tmp_path,
        env=_env(slow_llmock),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = read_jsonl(run_dir / "completed.jsonl")
    assert len(lines) == len({line["id"] for line in lines}) == N


@pytest.mark.integration
def test_a_refused_resume_leaves_hydra_alone(tmp_path: Path, llmock_server: servers.Server) -> None:
    exp = write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"id": "a", "api": "openai", "model_name": "m", "prompt": "q"}],
    )
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", "run_id=r1")
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / "outputs" / "exp" / "r1"
    hydra = {p.name: p.read_bytes() for p in (run_dir / ".hydra").glob("*.yaml")}
    assert set(hydra) == {"config.yaml", "hydra.yaml", "overrides.yaml"}
    exp.write_text(exp.read_text() + json.dumps({"id": "b", "prompt": "new"}) + "\n")
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", "resume=r1", "max_queries=7")
    assert out.returncode == 2, out.stderr
    assert {p.name: p.read_bytes() for p in (run_dir / ".hydra").glob("*.yaml")} == hydra
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".hydra")) == [".hydra"]


def test_a_negative_on_the_command_line_exits_2(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [{"id": "a", "prompt": "q"}])
    out = subprocess.run(
        [sys.executable, "-m", "runner", "experiment=exp", "stop_timeout_s=-5"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert "stop_timeout_s must not be negative" in out.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("after_s", [0.3, 0.5, 1.0, 1.5])
def test_sigterm_before_the_run_folder_exists_exits_130(tmp_path: Path, after_s: float) -> None:
    """Issue 23 item 11: SIGTERM during start-up is a stop (130, one line), not a kill (-15)."""
    records = [{"api": "openai", "model_name": "m", "prompt": f"p{i}"} for i in range(20000)]
    write_jsonl(tmp_path / "experiments" / "big.jsonl", records)
    argv = [
        sys.executable,
        "-m",
        "runner",
        "experiment=big",
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"limits_dir={tmp_path / 'limits'}",
        "progress=off",
        "index=false",
    ]
    env = runner_env("http://127.0.0.1:9", PYTHONPATH=str(ROOT))
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    time.sleep(after_s)
    started = list((tmp_path / "outputs").glob("big/*/run.json"))
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "Interrupted" in err or "SIGTERM: stopping" in err, err
    if not started:  # stopped before the run began: no run folder left behind
        assert not list((tmp_path / "outputs").glob("big/*/run.json"))


def _start_on(tmp_path: Path, server: servers.Server, **streams: object) -> subprocess.Popen[bytes]:
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"id": f"p{i}", "api": "openai", "model_name": "m", "prompt": "q"} for i in range(N)],
    )
    argv = [sys.executable, "-m", "runner", "experiment=exp", "run_id=r", "index=false"]
    argv += ["max_queries=6000", "max_concurrency=6", "stop_timeout_s=60"]
    return subprocess.Popen(argv, cwd=tmp_path, env=_env(server), **streams)  # type: ignore[call-overload,no-any-return]


def _first_result(tmp_path: Path, proc: subprocess.Popen[bytes], read: int | None) -> Path:
    done = tmp_path / "outputs" / "exp" / "r" / "completed.jsonl"
    deadline = time.monotonic() + 30
    while not done.exists() or not done.read_bytes().count(b"\n"):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never wrote"
        if read is not None:  # keep the terminal's buffer from filling up
            with contextlib.suppress(OSError):
                os.read(read, 65536)
        time.sleep(0.02)
    return done


@pytest.mark.integration
def test_a_closed_terminal_stops_the_run_gracefully_keeping_what_was_in_flight(
    tmp_path: Path, slow_llmock: servers.Server
) -> None:
    # Before: SIGHUP (an SSH session or a terminal window closed) killed the run at once:
    # exit -1, run.json "running", and the answers to the 6 requests in flight (billed by
    # the provider all the same) lost.
    master, slave = pty.openpty()
    proc = _start_on(
        tmp_path, slow_llmock, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    done = _first_result(tmp_path, proc, master)
    before = done.read_bytes().count(b"\n")
    os.close(master)  # the terminal is gone: writes to it fail from now on
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=60) == 130
    assert done.read_bytes().count(b"\n") >= before + 6  # those in flight, answered and kept
    run_dir = done.parent
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    log = (run_dir / "run.log").read_text()
    assert "SIGHUP: stopping" in log and "Resume with:" in log
    assert not list(tmp_path.rglob("*crash*"))


@pytest.mark.integration
def test_sighup_under_nohup_is_ignored_and_a_redirected_stop_says_so_in_its_file(
    tmp_path: Path, slow_llmock: servers.Server
) -> None:
    def nohup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    kept = _start_on(tmp_path / "nohup", slow_llmock, preexec_fn=nohup, stderr=subprocess.PIPE)
    _first_result(tmp_path / "nohup", kept, None)
    kept.send_signal(signal.SIGHUP)
    _, err = kept.communicate(timeout=60)
    assert kept.returncode == 0, err
    assert b"SIGHUP" not in err
    with open(tmp_path / "log.txt", "wb") as log:
        stopped = _start_on(tmp_path / "file", slow_llmock, stdout=log, stderr=log)
        _first_result(tmp_path / "file", stopped, None)
        stopped.send_signal(signal.SIGHUP)
        assert stopped.wait(timeout=60) == 130
    said = (tmp_path / "log.txt").read_text()
    assert "SIGHUP: stopping" in said and "Resume with:" in said
