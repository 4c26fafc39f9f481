"""``python -m runner.view`` over a real two-model sweep, driven in headless Chromium.

Also the side-by-side report of that sweep (``python -m runner.report experiment=NAME``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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
XSS = (
    "<script>alert('xss-script')</script>",
    '"><img src=x onerror="alert(\'xss-img\')">',
    "</script><script>alert('xss-json')</script>",
    "javascript:alert('xss-link')",
)
XSS_ID = 'q3"><svg onload=alert(1)>'
XSS_CHAT = [
    {"role": "system", "content": XSS[0]},
    {"role": "user", "content": XSS[2] + " " + XSS[3]},
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Outputs of a sweep over two models (one 400 for one model), indexed, with scores."""
    tmp = tmp_path_factory.mktemp("view")
    records: list[dict[str, Any]] = [
        {"id": f"q{i}", "prompt": f"question {i}", "api": "openai"} for i in range(N_PROMPTS)
    ]
    # Untrusted text in every field the pages draw: id, chat turns, a multi-turn prompt.
    records[3] = {"id": XSS_ID, "prompt": XSS_CHAT, "api": "openai"}
    records[4] = {"id": "q4", "prompt": ["first turn", XSS[1]], "api": "openai"}
    write_jsonl(tmp / "experiments" / "mat.jsonl", records)
    argv = [
        "index=true" if a == "index=false" else a
        for a in runner_argv(
            tmp,
            "-m",
            "experiment=mat",
            "model=gpt_4o_mini,gpt_4_1_nano",
            "evaluation=length",
            # llmock's answers run 5 to 12 words: the models disagree on some prompts.
            "evaluation.length_words.params.max=8",
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
        assert _texts(page, "#matrix th.model") == [f"{i}. {m}" for i, m in enumerate(MODELS, 1)]
        assert page.locator("tr.prompt-row").count() == 25
        assert f"{N_PROMPTS} prompt(s)" in page.inner_text("body")
        cells = _texts(page, "tr.prompt-row td.cell")
        assert len(cells) == 50 and all(c.strip() not in ("", "-") for c in cells)
        assert page.locator("td.cell .score").count() >= 49  # every ok answer was scored
        page.click("tr.prompt-row a >> nth=0")
        assert page.locator("section.answer").count() == 2
        assert page.inner_text(".turn.user .text >> nth=0") == "question 0"


def test_run_page_serves_the_run_report(viewer: str, outputs: Path) -> None:
    run_id = sorted((outputs / "mat").iterdir())[0].name
    with chromium_page() as page:
        page.goto(f"{viewer}run/{run_id}")
        assert all(n > 10 for n in drawn_charts(page))
        page.click("#viewer-nav a >> nth=0")  # a run's page has a way back
        assert page.locator("#runs").count() == 1


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


@pytest.mark.parametrize("port", ["80000", "-5", "abc"])
def test_a_port_out_of_range_exits_2_naming_it(outputs: Path, port: str) -> None:
    """``--port 80000`` once ended "unexpected OverflowError ... please report it", exit 1."""
    process = _viewer(outputs, "--port", port)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"argument --port: '{port}' is not a port" in err
    assert "Traceback" not in err and "unexpected" not in err


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
        assert all("length_words" in s for s in scores)
        assert "score:length_words" in table
        assert page.locator("[data-table=sample]").count() == 2  # answers shown, per run


# --- compare, find, a prompt, labels, live, safety (issue 21) ---------------------------------


def test_compare_orders_by_disagreement_and_by_a_beating_b(viewer: str) -> None:
    with chromium_page() as page:
        page.goto(f"{viewer}compare?experiment=mat")
        cards = _texts(page, "#summary .card")
        assert len(cards) == 2 and all("mean score" in c and "p90" in c for c in cards)
        assert "1.7%" in cards[0]  # one error in 60 for the first model
        page.select_option("select[name=order]", "spread")
        page.click("#compare-form button[type=submit]")
        assert "order=spread" in page.url  # a view can be bookmarked
        spreads = [float(t) for t in _texts(page, "tr.prompt-row td.num")]
        assert spreads[0] == 1.0 and spreads == sorted(spreads, reverse=True)
        page.goto(f"{viewer}compare?experiment=mat&order=a_minus_b&a=2&b=1&min_spread=1")
        diffs = [float(t) for t in _texts(page, "tr.prompt-row td.num")]
        assert diffs and diffs[0] == 1.0
        total = int(page.inner_text(".pager").split()[0])
        assert 0 < total < N_PROMPTS
        # Multi-turn prompts and answers read as text, never as JSON arrays.
        page.goto(f"{viewer}compare?experiment=mat")
        row = page.locator("tr.prompt-row", has_text="first turn").inner_text()
        assert '["' not in row


def test_find_sorts_filters_and_exports_what_it_shows(viewer: str) -> None:
    with chromium_page() as page:
        page.goto(f"{viewer}results?experiment=mat")
        page.click("a.sort[data-sort=score]")
        assert "sort=score" in page.url
        scores = [float(t) for t in _texts(page, "tr.result td.score") if t != "\u2013"]
        assert scores == sorted(scores) and scores[0] == 0.0
        page.fill("input[name=score_min]", "1")
        page.select_option("select[name=status]", "ok")
        page.click("#filters button[type=submit]")
        assert "score_min=1" in page.url and "status=ok" in page.url
        assert set(_texts(page, "tr.result td.score")) == {"1.00"}
        shown = int(page.inner_text("#total"))
        csv_url = page.get_attribute("#export-csv", "href")
        jsonl_url = page.get_attribute("#export-jsonl", "href")
    with urllib.request.urlopen(viewer.rstrip("/") + csv_url, timeout=30) as resp:
        assert len(resp.read().decode().strip().splitlines()) == shown + 1  # and a header
    with urllib.request.urlopen(viewer.rstrip("/") + jsonl_url, timeout=30) as resp:
        lines = [json.loads(x) for x in resp.read().decode().splitlines()]
    assert len(lines) == shown and all(x["status"] == "ok" and x["score"] == 1 for x in lines)


def test_keyboard_j_k_moves_through_rows(viewer: str) -> None:
    with chromium_page() as page:
        page.goto(f"{viewer}compare?experiment=mat")
        page.keyboard.press("j")
        page.keyboard.press("j")
        page.keyboard.press("k")
        page.keyboard.press("j")
        current = page.locator("tr.prompt-row.current")
        assert current.count() == 1
        assert "question 1" in current.inner_text()
        page.keyboard.press("Enter")  # opens the current prompt
        page.wait_for_url("**/prompt?*")
        assert page.inner_text(".turn.user .text >> nth=0") == "question 1"


def test_prompt_reads_as_a_conversation_and_labels_append(viewer: str, outputs: Path) -> None:
    results = {p: p.read_bytes() for p in outputs.glob("mat/*/completed.jsonl")}
    key = urllib.parse.quote(XSS_ID)
    with chromium_page() as page:
        page.goto(f"{viewer}prompt?experiment=mat&key={key}")
        assert page.locator("section.answer").count() == 2
        first = page.locator("section.answer").first
        roles = first.locator(".turn .role").all_inner_texts()
        assert [r.lower() for r in roles] == ["system", "user", "assistant"]
        assert first.locator(".turn.system .text").inner_text() == XSS[0]
        assert "{" not in first.locator(".conversation").inner_text()[:20]
        first.locator("input[name=note]").fill("too long " + XSS[1])
        first.locator("button[value=bad]").click()
        page.wait_for_load_state()
        assert "labelled bad" in page.locator("section.answer").first.inner_text()
        page.goto(f"{viewer}compare?experiment=mat")
        assert page.locator(".label.bad").count() == 1
    labels = (outputs / "labels.jsonl").read_text().splitlines()
    assert json.loads(labels[-1])["note"] == "too long " + XSS[1]
    with urllib.request.urlopen(f"{viewer}labels.jsonl", timeout=10) as resp:
        assert json.loads(resp.read().decode().splitlines()[-1])["label"] == "bad"
    assert {p: p.read_bytes() for p in outputs.glob("mat/*/completed.jsonl")} == results
    # A label needs this viewer's form: a post from elsewhere is refused.
    data = urllib.parse.urlencode({"run": "x", "key": "y", "label": "good"}).encode()
    assert _post_status(f"{viewer}label", data) == 403


def _post_status(url: str, data: bytes) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_no_script_from_data_runs_on_any_page(viewer: str, outputs: Path) -> None:
    run_id = sorted((outputs / "mat").iterdir())[0].name
    key = urllib.parse.quote(XSS_ID)
    pages = [
        "",
        "results?experiment=mat&size=25",
        f"results?q={urllib.parse.quote(XSS[0])}",
        "compare?experiment=mat",
        f"prompt?experiment=mat&key={key}",
        "prompt?experiment=mat&key=q4",
        f"run/{run_id}",
    ]
    with chromium_page() as page:
        dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        for path in pages:
            response = page.goto(viewer + path)
            assert response is not None and response.ok, path
            csp = response.headers.get("content-security-policy", "")
            assert (
                "script-src" in csp
                and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
            )
            page.wait_for_timeout(200)
        page.goto(f"{viewer}prompt?experiment=mat&key={key}")
        assert XSS[0] in page.inner_text("body")  # shown as text
        assert page.locator("img[src=x], svg[onload]").count() == 0
    assert dialogs == []


def test_a_token_guards_a_shared_viewer(outputs: Path) -> None:
    process = _viewer(outputs, "--token", "s3cret")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.endswith("/?token=s3cret")
        base = url.split("?")[0]
        assert _status(base + "results") == 403
        with chromium_page() as page:
            page.goto(url)
            page.goto(base + "results")  # the cookie carries it from here
            assert page.locator("#total").count() == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def test_a_running_run_shows_live_and_turns_into_its_report(tmp_path: Path) -> None:
    records = [{"id": f"l{i}", "prompt": f"live {i}", "api": "openai"} for i in range(12)]
    write_jsonl(tmp_path / "experiments" / "live.jsonl", records)
    (tmp_path / "outputs").mkdir()
    argv = [
        "index=true" if a == "index=false" else a
        for a in runner_argv(
            tmp_path, "experiment=live", "model=gpt_4o_mini", "model.max_queries=40"
        )
    ]
    viewer = _viewer(tmp_path / "outputs")
    with servers.llmock() as server:
        run = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=runner_env(server.url),
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert viewer.stdout is not None
            url = viewer.stdout.readline().strip()
            with chromium_page() as page:
                for _ in range(100):
                    page.goto(url)
                    if page.locator("#running tr[data-running]").count():
                        break
                    page.wait_for_timeout(200)
                page.click("#running a")
                assert "/live/" in page.url
                for _ in range(100):  # the page's own script refreshes it (CSP: no eval here)
                    if int(page.get_attribute("body", "data-refreshed") or 0) >= 2:
                        break
                    page.wait_for_timeout(100)
                assert int(page.get_attribute("body", "data-refreshed") or 0) >= 2
                done = page.inner_text("#live-groups")
                assert "/ 12" in done and "1,000" not in done
                assert "40" in done  # the group's limit per minute
                page.screenshot(path=str(_shot_dir(tmp_path) / "live.png"))
                page.wait_for_url("**/run/*", timeout=60_000)  # the run ended: its report
                assert all(n > 10 for n in drawn_charts(page))
            assert run.wait(timeout=60) == 0
        finally:
            if run.poll() is None:
                run.kill()
            viewer.send_signal(signal.SIGINT)
            viewer.wait(timeout=10)


def test_a_run_killed_9_shows_stopped_on_the_runs_page(tmp_path: Path) -> None:
    # Indexed after a kill -9, its run.json says "running" for good: the runs page said
    # so too, for a run no process was writing.
    records = [{"id": f"k{i}", "prompt": f"kill {i}", "api": "openai"} for i in range(40)]
    write_jsonl(tmp_path / "experiments" / "kill.jsonl", records)
    argv = runner_argv(
        tmp_path, "experiment=kill", "model=gpt_4o_mini", "run_id=k", "max_concurrency=2"
    )
    completed = tmp_path / "outputs" / "kill" / "k" / "completed.jsonl"
    with servers.llmock("--latency-ms", "300") as server:
        run = subprocess.Popen(argv, cwd=ROOT, env=runner_env(server.url))
        try:
            deadline = time.monotonic() + 30
            while not completed.exists() or completed.read_bytes().count(b"\n") < 2:
                assert run.poll() is None and time.monotonic() < deadline, "it never wrote"
                time.sleep(0.05)
        finally:
            run.kill()  # SIGKILL: no ending, run.json keeps "running"
            run.wait(timeout=10)
    index = [sys.executable, "-m", "runner.index", "--outputs-dir", str(tmp_path / "outputs")]
    subprocess.run(index, cwd=ROOT, check=True, capture_output=True, timeout=120)
    viewer = _viewer(tmp_path / "outputs")
    try:
        assert viewer.stdout is not None
        url = viewer.stdout.readline().strip()
        with chromium_page() as page:
            page.goto(url)
            row = page.locator("#runs tr[data-run]")
            assert row.count() == 1 and "stopped" in row.inner_text(), row.inner_text()
            assert page.locator("#running tr[data-running]").count() == 0
    finally:
        viewer.send_signal(signal.SIGINT)
        viewer.wait(timeout=10)


SHOTS = ROOT / "docs" / "view"


def _shot_dir(tmp_path: Path) -> Path:
    """docs/view when RUNNER_SCREENSHOTS=1 (to refresh the docs), else a temp folder."""
    return SHOTS if os.environ.get("RUNNER_SCREENSHOTS") == "1" else tmp_path


def test_screenshots_of_each_page(viewer: str, outputs: Path, tmp_path: Path) -> None:
    run_id = sorted((outputs / "mat").iterdir())[0].name
    pages = {
        "runs": "",
        "find": "results?experiment=mat&sort=score&size=25",
        "compare": "compare?experiment=mat&order=spread",
        "prompt": f"prompt?experiment=mat&key={urllib.parse.quote(XSS_ID)}",
        "report": f"run/{run_id}",
    }
    folder = _shot_dir(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        page.set_viewport_size({"width": 1280, "height": 860})
        for name, path in pages.items():
            page.goto(viewer + path)
            if name == "report":
                drawn_charts(page)
            page.screenshot(path=str(folder / f"{name}.png"))
        page.emulate_media(color_scheme="dark")
        page.goto(viewer + pages["compare"])
        page.screenshot(path=str(folder / "compare-dark.png"))
    assert all((folder / f"{name}.png").stat().st_size > 10_000 for name in pages)


def test_hand_labels_count_as_a_scorer_in_the_report(outputs: Path, tmp_path: Path) -> None:
    from runner.report import load_run

    labels = outputs / "labels.jsonl"
    if not labels.exists():  # run alone: label one answer as the viewer would
        from runner.view.labels import append_label

        run_id = sorted((outputs / "mat").iterdir())[0].name
        append_label(outputs, run_id, "q5", "bad", "")
    line = json.loads(labels.read_text().splitlines()[-1])
    data = load_run(outputs / "mat" / line["run_id"])
    human = [r for r in data.scores.records() if r["step"] == "human"]
    assert len(human) == 1 and human[0]["n"] == 1
    assert human[0]["mean"] == (1.0 if line["label"] == "good" else 0.0)
