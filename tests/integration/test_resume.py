"""Resume, kill -9, Ctrl-C and torn lines: nothing written is lost, nothing is doubled."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import ROOT, read_jsonl, run_cli, runner_argv, runner_env, write_jsonl

pytestmark = pytest.mark.integration

N = 240


@pytest.fixture(scope="module")
def slow_llmock() -> Iterator[servers.Server]:
    """llmock answering after 20 ms, so a run lasts long enough to be cut."""
    with servers.llmock("--latency-ms", "20") as server:
        yield server


def _experiment(tmp_path: Path, n: int = N) -> Path:
    return write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [
            {"id": f"p{i}", "api": "openai", "model_name": "gpt-resume", "prompt": f"q{i}"}
            for i in range(n)
        ],
    )


def _start(tmp_path: Path, server: servers.Server, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        runner_argv(tmp_path, "experiment=exp", "max_queries=3000", "max_concurrency=4", *args),
        cwd=ROOT,
        env=runner_env(server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_lines(path: Path, at_least: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {at_least} lines")


def _start_and_wait(
    tmp_path: Path, server: servers.Server, lines: int
) -> tuple[subprocess.Popen[str], Path]:
    """Start a run of N prompts and return once ``lines`` results are written."""
    _experiment(tmp_path)
    proc = _start(tmp_path, server)
    deadline = time.monotonic() + 30
    while not list((tmp_path / "outputs").rglob("completed.jsonl")):
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.02)
    run_dir = _run_dir(tmp_path)
    _wait_for_lines(run_dir / "completed.jsonl", lines)
    return proc, run_dir


def _run_dir(tmp_path: Path) -> Path:
    (run_dir,) = (tmp_path / "outputs" / "exp").iterdir()
    return run_dir


def _assert_complete_once(run_dir: Path, n: int = N) -> None:
    lines = read_jsonl(run_dir / "completed.jsonl")
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)) == n
    assert {line["status"] for line in lines} == {"ok"}


def test_kill_9_then_resume_loses_nothing_and_doubles_nothing(
    tmp_path: Path, slow_llmock: servers.Server
) -> None:
    proc, run_dir = _start_and_wait(tmp_path, slow_llmock, lines=40)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    written = read_jsonl(run_dir / "completed.jsonl")
    assert 40 <= len(written) < N
    out = run_cli(
        tmp_path,
        slow_llmock.url,
        "experiment=exp",
        f"resume={run_dir.name}",
        "max_queries=6000",
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    _assert_complete_once(run_dir)
    # Lines written before the kill are still there, unchanged.
    kept = {line["id"]: line for line in read_jsonl(run_dir / "completed.jsonl")}
    assert all(kept[line["id"]] == line for line in written)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and len(meta["resumes"]) == 1


def test_ctrl_c_stops_gracefully_and_prints_the_resume_command(
    tmp_path: Path, slow_llmock: servers.Server
) -> None:
    proc, run_dir = _start_and_wait(tmp_path, slow_llmock, lines=30)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert f"resume={run_dir.name}" in stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "interrupted"
    lines = read_jsonl(run_dir / "completed.jsonl")
    assert len(lines) < N and all(line["status"] == "ok" for line in lines)  # nothing fake
    out = run_cli(
        tmp_path,
        slow_llmock.url,
        "experiment=exp",
        "resume=latest",
        "max_queries=6000",
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    _assert_complete_once(run_dir)


def test_torn_line_is_repaired_and_errors_are_retried(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    from tests.helpers import post_json

    n = 6
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [
            {"id": f"p{i}", "api": "openai", "model_name": f"gpt-torn-{i}", "prompt": "q"}
            for i in range(n)
        ],
    )
    post_json(
        f"{llmock_server.url}/_llmock/scenario",
        {
            "behaviors": [
                {"type": "fail", "status": 400, "times": 1, "match": {"model": "gpt-torn-1"}}
            ]
        },
    )
    first = run_cli(tmp_path, llmock_server.url, "experiment=exp", "max_queries=6000", timeout=60)
    assert first.returncode == 1  # p1 got a 400
    run_dir = _run_dir(tmp_path)
    completed = run_dir / "completed.jsonl"
    lines = completed.read_text().splitlines(keepends=True)
    # Simulate a crash mid-write: drop p5's line and leave half of it.
    p5 = next(line for line in lines if json.loads(line)["id"] == "p5")
    completed.write_text("".join(line for line in lines if line is not p5) + p5[: len(p5) // 2])
    out = run_cli(
        tmp_path,
        llmock_server.url,
        "experiment=exp",
        f"resume={run_dir.name}",
        "max_queries=6000",
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    _assert_complete_once(run_dir, n)


@pytest.mark.parametrize("case", ["missing", "other_experiment", "changed_input"])
def test_bad_resume_exits_2_and_sends_nothing(
    tmp_path: Path, llmock_server: servers.Server, case: str
) -> None:
    _experiment(tmp_path, 3)
    first = run_cli(tmp_path, llmock_server.url, "experiment=exp", "max_queries=6000", timeout=60)
    assert first.returncode == 0, first.stderr
    run_id = _run_dir(tmp_path).name
    experiment = "exp"
    if case == "missing":
        run_id = "20000101-000000-abcdef"
    elif case == "other_experiment":
        write_jsonl(tmp_path / "experiments" / "other.jsonl", [{"prompt": "x", "api": "openai"}])
        experiment = "other"
    else:
        _experiment(tmp_path, 4)
    before = (_run_dir(tmp_path) / "completed.jsonl").read_text()
    out = run_cli(
        tmp_path, llmock_server.url, f"experiment={experiment}", f"resume={run_id}", timeout=60
    )
    assert out.returncode == 2, out.stderr
    assert "resume" in out.stderr
    assert (_run_dir(tmp_path) / "completed.jsonl").read_text() == before


def _as_killed_after_the_last_line(run_dir: Path, outputs: Path) -> None:
    """The folder as ``kill -9`` leaves it between the last result and the run's end.

    ``run.json`` is the one the run wrote as it started ("running", no counts), and the
    timeline, the report and the index were never written. A real ``kill -9`` lands there
    only now and then (the window is a few milliseconds), so the state is made directly.
    """
    meta = json.loads((run_dir / "run.json").read_text())
    for key in ("counts", "not_sent", "unsent", "skipped", "total", "wall_time_s", "groups"):
        meta.pop(key, None)
    meta.update(status="running", finished_at=None)
    (run_dir / "run.json").write_text(json.dumps(meta))
    for name in ("report.html", "timeline.json"):
        (run_dir / name).unlink()
    for index in outputs.glob("index.duckdb*"):
        index.unlink()
    # What the writes the kill cut off left (pids above any pid_max: processes that are gone).
    for name in (
        "run.json.99999991.tmp",
        "report.html.99999993.tmp",
        ".hydra/config.yaml.99999995.tmp",
    ):
        (run_dir / name).write_text("{")


def test_resume_after_a_kill_at_the_runs_end_finishes_it_without_sending(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """Killed after its last result: the resume wrote nothing, so run.json said 'running'.

    Before, the resume said "already complete" and left run.json 'running' for good, with no
    report and the run missing from the index.
    """
    from tests.helpers import get_json, post_json

    n = 5
    _experiment(tmp_path, n)
    argv = runner_argv(tmp_path, "experiment=exp", "max_queries=6000")
    argv.remove("index=false")

    def run(*more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*argv, *more], cwd=ROOT, env=runner_env(llmock_server.url),
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    assert run().returncode == 0
    run_dir, outputs = _run_dir(tmp_path), tmp_path / "outputs"
    _as_killed_after_the_last_line(run_dir, outputs)
    before = (run_dir / "completed.jsonl").read_bytes()
    post_json(f"{llmock_server.url}/_llmock/reset", {})
    out = run(f"resume={run_dir.name}")
    assert out.returncode == 0, out.stderr
    assert get_json(f"{llmock_server.url}/_llmock/requests")["count"] == 0  # nothing re-billed
    assert (run_dir / "completed.jsonl").read_bytes() == before
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["finished_at"]
    assert meta["counts"] == {"ok": n, "error": 0} and meta["total"] == n
    assert (run_dir / "report.html").is_file()
    assert f"Report:  {run_dir / 'report.html'}" in out.stdout
    assert not list(run_dir.rglob("*.tmp"))
    sql = "SELECT runs.status, count(*) AS n FROM runs JOIN responses USING (run_id) GROUP BY ALL"
    query = subprocess.run(
        [argv[0], "-m", "runner.query", "--outputs-dir", str(outputs), "--format", "csv", sql],
        cwd=ROOT, env=runner_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert query.returncode == 0, query.stderr
    assert query.stdout.split() == ["status,n", f"completed,{n}"]
    # A second resume finds nothing left to do and leaves run.json as it is.
    written = (run_dir / "run.json").read_bytes()
    again = run(f"resume={run_dir.name}")
    assert again.returncode == 0 and (run_dir / "run.json").read_bytes() == written


@pytest.mark.parametrize("generation_left", [False, True])
def test_resume_judges_the_results_a_kill_left_unjudged_and_no_others(
    tmp_path: Path, llmock_server: servers.Server, generation_left: bool
) -> None:
    """Killed with judge prompts in flight: their results were written, their verdicts not.

    Before, the resume never judged them (a run with every prompt ok was "already complete"),
    so the scores lacked them for good; re-scoring with runner.evaluate pays every judge again.
    """
    from tests.helpers import get_json, post_json

    n, model = 6, "gpt-judged-resume"
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"q{i}"}
         for i in range(n)],
    )  # fmt: skip
    args = ("experiment=exp", "max_queries=60000", "evaluation=judge_helpfulness",
            "evaluation.helpfulness.max_queries=60000")  # fmt: skip
    first = run_cli(tmp_path, llmock_server.url, *args, timeout=120)
    run_dir = _run_dir(tmp_path)
    evaluations = run_dir / "evaluations.jsonl"
    rows = evaluations.read_text().splitlines(keepends=True)
    unjudged = {"p1", "p4"}
    if generation_left:  # killed before p5's answer was written too
        unjudged.add("p5")
        completed = run_dir / "completed.jsonl"
        kept = [x for x in completed.read_text().splitlines(keepends=True) if '"p5"' not in x]
        completed.write_text("".join(kept))
    evaluations.write_text("".join(r for r in rows if json.loads(r)["prompt_key"] not in unjudged))
    post_json(f"{llmock_server.url}/_llmock/reset", {})
    out = run_cli(tmp_path, llmock_server.url, *args[:1], f"resume={run_dir.name}", timeout=120)
    assert out.returncode == first.returncode, out.stderr
    sent = get_json(f"{llmock_server.url}/_llmock/requests")["requests"]
    assert sorted(r["model"] for r in sent if r["model"] == model) == (
        [model] if generation_left else []
    )
    judged = [r["body"]["messages"][-1]["content"] for r in sent if r["model"] != model]
    assert len(judged) == len(unjudged)  # the judges of the others are not paid again
    assert all(any(f"\nq{k[1:]}\n" in text for text in judged) for k in unjudged)
    fields = [(r["prompt_key"], r["field"]) for r in map(json.loads, evaluations.open())]
    assert {key for key, _ in fields} == {f"p{i}" for i in range(n)}
    assert len(fields) == len(set(fields))  # nobody judged twice
