"""``python -m runner.view`` over a real two-model sweep, driven in headless Chromium.

Also the side-by-side report of that sweep (``python -m runner.report experiment=NAME``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.browser import chromium_page, drawn_charts
from tests.helpers import ROOT, post_json, runner_argv, runner_env, write_jsonl

pytestmark = pytest.mark.integration

N_PROMPTS = 60
MODELS = ("gpt-4.1-nano", "gpt-4o-mini")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Outputs of a sweep over two models (one 400 for one model), indexed, with scores."""
    tmp = tmp_path_factory.mktemp("view")
    records = [
        {"id": f"q{i}", "prompt": f"question {i}", "api": "openai"} for i in range(N_PROMPTS)
    ]
    write_jsonl(tmp / "experiments" / "mat.jsonl", records)
    argv = [
        "index=true" if a == "index=false" else a
        for a in runner_argv(
            tmp,
            "-m",
            "experiment=mat",
            "model=gpt_4o_mini,gpt_4_1_nano",
            "evaluation=length",
            "max_queries=3000",
        )
    ]
    with servers.llmock() as server:
        behavior = {"type": "fail", "status": 400, "times": 1, "match": {"model": MODELS[0]}}
        post_json(f"{server.url}/_llmock/scenario", {"behaviors": [behavior]})
        out = subprocess.run(
            argv, cwd=ROOT, env=runner_env(server.url), capture_output=True, text=True, timeout=300
        )
    assert out.returncode == 1, out.stderr
    return tmp / "outputs"


def _viewer(outputs: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner.view", "--outputs-dir", str(outputs), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def viewer(outputs: Path) -> Iterator[str]:
    process = _viewer(outputs)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _texts(page: Any, selector: str) -> list[str]:
    found: list[str] = page.locator(selector).all_inner_texts()
    return found


def test_runs_page_lists_and_filters(viewer: str) -> None:
    with chromium_page() as page:
        page.goto(viewer)
        assert page.locator("#runs tr[data-run]").count() == 2
        page.fill("input[name=model]", MODELS[1])
        page.click("button[type=submit]")
        rows = page.locator("#runs tr[data-run]")
        assert rows.count() == 1
        assert MODELS[1] in rows.inner_text()


def test_results_page_pages_searches_and_filters(viewer: str) -> None:
    with chromium_page() as page:
        page.goto(f"{viewer}results?size=25")
        assert page.inner_text("#total") == str(2 * N_PROMPTS)
        assert page.inner_text("#pages") == str(-(-2 * N_PROMPTS // 25))
        assert page.locator("tr.result").count() == 25
        first = _texts(page, "tr.result")
        page.click("#next")
        assert page.inner_text("#page") == "2"
        assert page.locator("tr.result").count() == 25
        assert _texts(page, "tr.result") != first
        page.goto(f"{viewer}results")
        page.select_option("select[name=status]", "error")
        page.click("button[type=submit]")
        assert page.inner_text("#total") == "1"
        assert MODELS[0] in page.inner_text("tr.result")
        page.goto(f"{viewer}results")
        page.fill("input[name=q]", "question 17")
        page.click("button[type=submit]")
        assert page.inner_text("#total") == "2"  # one answer per model
        assert all("question 17" in t for t in _texts(page, "tr.result"))


def test_matrix_shows_every_prompt_against_both_models(viewer: str) -> None:
    with chromium_page() as page:
        page.goto(f"{viewer}matrix?experiment=mat")
        assert _texts(page, "#matrix th.model") == list(MODELS)
        assert page.locator("tr.prompt-row").count() == 25
        assert f"{N_PROMPTS} prompt(s)" in page.inner_text("body")
        cells = _texts(page, "tr.prompt-row td.cell")
        assert len(cells) == 50 and all(c.strip() not in ("", "-") for c in cells)
        assert page.locator("td.cell .score").count() >= 49  # every ok answer was scored
        page.click("tr.prompt-row a >> nth=0")
        assert page.locator("section.answer").count() == 2
        assert page.inner_text("#prompt") == "question 0"


def test_run_page_serves_the_run_report(viewer: str, outputs: Path) -> None:
    run_id = sorted((outputs / "mat").iterdir())[0].name
    with chromium_page() as page:
        page.goto(f"{viewer}run/{run_id}")
        assert all(n > 10 for n in drawn_charts(page))


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_viewer_is_read_only_and_serves_nothing_outside_outputs(viewer: str) -> None:
    assert _status(f"{viewer}run/..%2F..%2F..%2Fetc%2Fpasswd") == 404
    assert _status(f"{viewer}../../etc/passwd") == 404
    assert _status(f"{viewer}query?sql=DROP%20TABLE%20runs") == 404  # no SQL endpoint
    injected = urllib.parse.quote("x' OR 1=1 --")
    with urllib.request.urlopen(f"{viewer}results?run={injected}", timeout=10) as resp:
        assert '<span id="total">0</span>' in resp.read().decode()


def test_a_port_in_use_exits_2(viewer: str, outputs: Path) -> None:
    port = viewer.rstrip("/").rsplit(":", 1)[1]
    process = _viewer(outputs, "--port", port)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


def test_missing_outputs_folder_exits_2(tmp_path: Path) -> None:
    process = _viewer(tmp_path / "nothing")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "no such folder" in err and "Traceback" not in err


def test_sweep_report_compares_the_models(outputs: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "runner.report", "experiment=mat", f"outputs_dir={outputs}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr
    report = Path(out.stdout.strip())
    assert report == outputs / "mat" / "report.html"
    with chromium_page(offline=True) as page:
        page.goto(report.as_uri())
        assert all(n > 10 for n in drawn_charts(page))
        table = page.inner_text("[data-table=comparison]")
        assert all(model in table for model in MODELS)
        assert page.locator("section.run").count() == 2
        # Each model's mean score with its bootstrap interval (every ok answer passed).
        scores = _texts(page, "[data-table=scores]")
        assert len(scores) == 2
        assert all("length_words" in s and "1.000" in s for s in scores)
        assert "score:length_words" in table
