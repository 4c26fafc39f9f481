"""The run report: the engine's timeline, report.html after every run, ``python -m runner.report``.

The report is opened from disk in headless Chromium with every non-file request aborted, and
each chart must have drawn; the numbers it shows must be the run's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.browser import chromium_page, drawn_charts
from tests.helpers import ROOT, post_json, read_jsonl, run_cli, write_jsonl

pytestmark = pytest.mark.integration


MODELS = ("report-a", "report-b")


N_EACH = 10


def _scenario(server: servers.Server) -> None:
    behaviors: list[dict[str, Any]] = [
        {
            "type": "fail",
            "status": 429,
            "retry_after": 1,
            "times": 2,
            "match": {"model": MODELS[0]},
        },
        {"type": "fail", "status": 503, "times": 2, "match": {"model": MODELS[1]}},
        {"type": "fail", "status": 400, "times": 1, "match": {"model": MODELS[1]}},
    ]
    post_json(f"{server.url}/_llmock/scenario", {"behaviors": behaviors})


def _records() -> list[dict[str, Any]]:
    return [
        {
            "id": f"{model}-{i}",
            "prompt": f"question {i}",
            "api": "openai",
            "model_name": model,
            "parameters": {"max_tokens": 8},
        }
        for model in MODELS
        for i in range(N_EACH)
    ]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    with servers.llmock() as server:
        _scenario(server)
        write_jsonl(tmp / "experiments" / "rep.jsonl", _records())
        out = run_cli(tmp, server.url, "experiment=rep", "max_queries=600", "max_attempts=3")
    assert out.returncode == 1, out.stderr  # the 400 ends one prompt in error
    (folder,) = (tmp / "outputs" / "rep").iterdir()
    assert f"Report:  {folder / 'report.html'}" in out.stdout
    (tmp / "stdout.txt").write_text(out.stdout)
    return folder


def test_the_terminal_summary_shows_errors_by_kind_and_cached_counts(run_dir: Path) -> None:
    stdout = (run_dir.parents[2] / "stdout.txt").read_text()
    (failed,) = [line for line in read_jsonl(run_dir / "completed.jsonl") if line["status"] != "ok"]
    assert "cached: 0 answer(s) from the cache; not sent: 0" in stdout
    assert f"errors: {failed['error_kind']} x1" in stdout
    assert " ".join(failed["error"].split())[:100] in stdout


def test_timeline_json_matches_the_attempts(run_dir: Path) -> None:
    lines = read_jsonl(run_dir / "completed.jsonl")
    timeline = json.loads((run_dir / "timeline.json").read_text())
    rows = [r for g in timeline["groups"].values() for r in g["buckets"]]
    assert sum(r["sent"] for r in rows) == sum(line["attempts"] for line in lines)
    assert sum(r.get("429", 0) for r in rows) == 2
    assert sum(r.get("5xx", 0) for r in rows) == 2
    assert sum(r.get("4xx", 0) for r in rows) == 1
    assert sum(r.get("ok", 0) for r in rows) == 2 * N_EACH - 1
    assert all(g["rate_per_minute"] == 600 for g in timeline["groups"].values())


def test_report_opens_offline_and_every_chart_draws(run_dir: Path) -> None:
    lines = read_jsonl(run_dir / "completed.jsonl")
    report = run_dir / "report.html"
    assert report.stat().st_size < 2_000_000
    with chromium_page(offline=True) as page:
        page.goto(report.as_uri())
        counts = drawn_charts(page)
        assert page.blocked == []  # nothing even tried the network
        assert len(counts) >= 5 and all(n > 10 for n in counts), counts

        def stat(name: str) -> str:
            text: str = page.inner_text(f"[data-stat={name}]")
            return text

        assert int(stat("total")) == len(lines) == 2 * N_EACH
        assert int(stat("ok")) == sum(line["status"] == "ok" for line in lines) == 2 * N_EACH - 1
        assert int(stat("error")) == 1
        assert page.inner_text("[data-error-kind=fatal]") == "1"
        # The health chart's rate line: one chart per rate-limit group, limits shown.
        assert page.locator("[id^=chart-0-health]").count() == len(
            {line["rate_group"] for line in lines}
        )
        assert "600" in page.inner_text("[data-table=groups]")
        # The achieved rate per group is the run's own figure.
        meta = json.loads((run_dir / "run.json").read_text())
        for name, group in meta["groups"].items():
            shown = page.inner_text(f"[data-achieved='{name}']").replace(",", "")
            achieved = group["achieved_per_minute"]
            assert float(shown) == pytest.approx(achieved, abs=0.001 if achieved < 100 else 0.5)
        # Each error kind lists example prompts with their messages.
        (failed,) = [line for line in lines if line["status"] == "error"]
        errors = page.inner_text("[data-table=errors]")
        assert failed["error"][:100] in errors and failed["prompt"] in errors
        # A sample of answers, each with its prompt and answer as text.
        sample = page.inner_text("[data-table=sample]")
        ok = [line for line in lines if line["status"] == "ok"]
        assert ok[0]["prompt"] in sample and ok[0]["response"][:50] in sample
        assert page.inner_text("[data-stat=cached]") == "0"


def _report_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.report", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_command_rewrites_a_run_report(run_dir: Path, tmp_path: Path) -> None:
    outputs = run_dir.parent.parent
    out = _report_cli(f"outputs_dir={outputs}", "run=latest", f"out={tmp_path / 'r.html'}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "r.html")
    assert "chart-specs" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run=nosuch",), "run=nosuch: no such run"),
        (("experiment=nope",), "no runs of experiment 'nope'"),
        (("bogus=1",), "unknown argument 'bogus=1'"),
    ],
)
def test_report_bad_input_exits_2(run_dir: Path, args: tuple[str, ...], message: str) -> None:
    out = _report_cli(f"outputs_dir={run_dir.parent.parent}", *args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_report_of_a_run_without_results_exits_2(tmp_path: Path) -> None:
    folder = tmp_path / "outputs" / "exp" / "20260101-000000-abcdef"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"run_id": folder.name, "experiment": "exp"}))
    out = _report_cli(f"outputs_dir={tmp_path / 'outputs'}", "experiment=exp")
    assert out.returncode == 2
    assert "has no results yet" in out.stderr
    assert "Traceback" not in out.stderr


def test_several_runs_leave_out_one_without_results(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(run_dir, tmp_path / "outputs" / "rep" / run_dir.name)
    empty = tmp_path / "outputs" / "rep" / "29990101-000000-000000"
    empty.mkdir()
    (empty / "run.json").write_text(json.dumps({"run_id": empty.name, "experiment": "rep"}))
    out = _report_cli(f"outputs_dir={tmp_path / 'outputs'}", "experiment=rep")
    assert out.returncode == 0, out.stderr
    assert "Left out of the report" in out.stderr and empty.name in out.stderr
    html = Path(out.stdout.strip()).read_text()
    assert f'data-run="{run_dir.name}"' in html and f'data-run="{empty.name}"' not in html


def test_a_run_ends_by_printing_the_report_and_the_viewer_command(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    from tests.helpers import runner_argv, runner_env

    write_jsonl(
        tmp_path / "experiments" / "one.jsonl",
        [{"id": 1, "prompt": "hi", "api": "openai", "model_name": "report-one"}],
    )
    argv = [
        "index=true" if a == "index=false" else a for a in runner_argv(tmp_path, "experiment=one")
    ]
    out = subprocess.run(
        argv,
        cwd=ROOT,
        env=runner_env(llmock_server.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    *_, report, view = out.stdout.strip().splitlines()
    (folder,) = (tmp_path / "outputs" / "one").iterdir()
    assert report == f"Report:  {folder / 'report.html'}"
    from runner.commands import python_command

    expected = f"{python_command()} -m runner.view --outputs-dir {tmp_path / 'outputs'}"
    assert view == f"View:    {expected}"
