"""Issue 23 item 8: the viewer, the report and the terminal treat text from data as text.

The viewer answers only its own Host names, serves no report that links out of the outputs
folder, answers bad parameters with a 400, searches ``%`` and ``_`` literally and pages a
prompt's answers. Rich never reads data as markup; bidirectional controls are shown as
escapes (a model name cannot pass for another); the report draws its charts whatever the
names and scores hold.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.index import update_index
from tests import servers
from tests.browser import chromium_page, drawn_charts
from tests.helpers import ROOT, runner_argv, runner_env, write_jsonl
from tests.unit.test_index_ingest import lines, make_run, record
from tests.unit.test_text_is_text import SPOOF as SPOOF

N_ANSWERS = 120  # answers to one prompt, paged


def _records() -> list[dict[str, object]]:
    answers = [
        "[/INST] [link=https://evil.example]click[/link] [bold]x",
        "50% off",
        "500 off",
        "a_b",
        "axb",
        "spoofed",
    ]
    found = [record(i) for i in range(len(answers))]
    for row, answer in zip(found, answers, strict=True):
        row["response"] = answer
    found[-1]["model_name"] = SPOOF
    return found


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An indexed outputs folder: hostile answers and names, and one prompt answered often."""
    out = tmp_path_factory.mktemp("text") / "outputs"
    out.mkdir()
    make_run(out, "exp", "r1", lines(_records()))
    many = [record(99, run_id="r2") for _ in range(N_ANSWERS)]
    for n, row in enumerate(many):
        row.update(response=f"answer {n}", prompt_key="same", id="same")
    make_run(out, "exp", "r2", lines(many))
    # A run whose report.html is a link to a file outside the outputs folder.
    make_run(out, "exp", "r3", lines([record(0, run_id="r3")]))
    outside = out.parent / "secret.html"
    outside.write_text("<p>outside</p>", encoding="utf-8")
    (out / "exp" / "r3" / "report.html").symlink_to(outside)
    update_index(out)
    return out


@pytest.fixture(scope="module")
def viewer(outputs: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "runner.view", "--outputs-dir", str(outputs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr and process.stderr.read()
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(url: str, path: str, host: str | None = None) -> tuple[int, str]:
    """A raw GET of ``path`` with the given Host header (the URL's own by default)."""
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        con.putrequest("GET", path, skip_host=True)
        con.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        con.endheaders()
        response = con.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        con.close()


def _port(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def test_viewer_answers_only_its_own_host_names(viewer: str) -> None:
    port = _port(viewer)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
        assert _get(viewer, "/", host)[0] == 200, host
    # DNS rebinding: a page of another site, its name now resolving to 127.0.0.1.
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", ""):
        status, body = _get(viewer, "/results", host)
        assert status == 403, host
        assert "question" not in body


def test_a_report_linking_out_of_the_outputs_folder_is_not_served(viewer: str) -> None:
    status, body = _get(viewer, "/run/r3")
    assert status == 404
    assert "outside" not in body or "outputs folder" in body


@pytest.mark.parametrize(
    "path",
    [
        "/results?page=99999999999999999999",
        "/results?page=-3",
        "/results?page=abc",
        "/results?size=7",
        "/matrix?experiment=exp&page=1e99",
        "/?since=not-a-date",
        "/?since=2026-13-45",
        "/prompt?experiment=exp&key=same&page=99999999999999999999",
    ],
)
def test_bad_numbers_and_dates_are_a_400(viewer: str, path: str) -> None:
    status, body = _get(viewer, path)
    assert status == 400, (path, body[:300])
    assert "Traceback" not in body and len(body.splitlines()) == 1


def test_search_matches_percent_and_underscore_literally(viewer: str) -> None:
    total = re.compile(r'<span id="total">(\d+)</span>')
    for text, expected in (("50%", 1), ("a_b", 1), ("0 off", 1), (" off", 2), ("\\", 0)):
        status, body = _get(viewer, f"/results?q={urllib.parse.quote(text)}")
        assert status == 200
        found = total.search(body)
        assert found and int(found.group(1)) == expected, text


def test_a_prompt_answered_many_times_is_paged(viewer: str) -> None:
    status, body = _get(viewer, "/prompt?experiment=exp&key=same&size=25")
    assert status == 200
    assert body.count('<section class="answer"') == 25
    assert f'<span id="total">{N_ANSWERS}</span>' in body
    with chromium_page() as page:
        page.goto(f"{viewer}prompt?experiment=exp&key=same&size=25")
        assert page.locator("section.answer").count() == 25
        page.click("#next")
        assert page.inner_text("#page") == "2"
        assert page.locator("section.answer").count() == 25
        page.goto(f"{viewer}prompt?experiment=exp&key=same&size=25&page=5")
        assert page.locator("section.answer").count() == N_ANSWERS - 4 * 25


def test_viewer_shows_bidi_controls_and_markup_as_text(viewer: str) -> None:
    with chromium_page() as page:
        page.goto(f"{viewer}results?experiment=exp&run=r1")
        text = page.inner_text("#results")
        assert "\\u202egpt-4o" in text and "\u202e" not in text
        assert "[/INST] [link=https://evil.example]click[/link]" in text
        page.goto(f"{viewer}matrix?experiment=exp")
        # The compare view numbers its columns: "4. <model>".
        models = [m.split(". ", 1)[-1] for m in page.locator("#matrix th.model").all_inner_texts()]
        assert "\\u202egpt-4o" in models and not any("\u202e" in m for m in models)


def test_query_prints_markup_and_bidi_in_data_as_text(outputs: Path) -> None:
    env = {**os.environ, "FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "200"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.query",
            "--outputs-dir",
            str(outputs),
            "SELECT model_name, response AS \"[red]col\" FROM responses WHERE run_id = 'r1' "
            "AND (response LIKE '%INST%' OR response = 'spoofed') ORDER BY line",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)
    assert "[/INST]" in plain and "[link=https://evil.example]click[/link]" in plain
    assert "\x1b]8;" not in out.stdout  # no terminal hyperlink
    assert "[red]col" in plain
    assert "\\u202egpt-4o" in plain and "\u202e" not in out.stdout


@pytest.mark.integration
def test_a_run_on_a_terminal_draws_groups_named_like_markup(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """``progress=on`` draws the bars as on a terminal (FORCE_COLOR: with colour codes)."""
    groups = ["g[/x]", "[link=https://evil.example]g", f"g{SPOOF}"]
    write_jsonl(
        tmp_path / "experiments" / "e.jsonl",
        [
            {"id": f"q{i}", "prompt": f"question {i}", "api": "openai", "group": group}
            | {"model_name": "gpt-4o-mini"}
            for i, group in enumerate(groups)
        ],
    )
    argv = [
        "progress=on" if a == "progress=off" else a
        for a in runner_argv(tmp_path, "experiment=e", "parallel=true", "max_queries=6000")
    ]
    out = subprocess.run(
        argv,
        cwd=ROOT,
        env=runner_env(llmock_server.url, FORCE_COLOR="1", TERM="xterm-256color"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "MarkupError" not in out.stderr
    assert "g[/x]" in out.stderr and "[link=https://evil.example]g" in out.stderr
    assert "\x1b]8;" not in out.stderr  # no hyperlink drawn
    assert "\u202e" not in out.stdout + out.stderr
    assert "g\\u202egpt-4o" in out.stdout  # the summary's group column


@pytest.fixture
def hostile_run(tmp_path: Path) -> Path:
    """A run whose models are named to break a page and whose scores are not finite."""
    names = ["<!--<script>", "</script><script>alert(1)</script>", SPOOF, "m1"]
    rows = [
        record(i, model_name=names[i % len(names)], group=names[i % len(names)]) for i in range(12)
    ]
    for i, row in enumerate(rows):
        row["latency_s"] = [1e308, 0.5, 2.0, 1.0][i % 4]
        row["usage"] = {"input_tokens": 10**15, "output_tokens": 20}
    folder = make_run(tmp_path / "outputs", "exp", "r1", lines(rows)).parent
    scores = ["1e308", "1e999", "-1e999", "0.5"]  # 1e999 reads as infinity
    (folder / "evaluations.jsonl").write_text(
        "".join(
            f'{{"prompt_key": "q{i}", "step": "s", "field": "score", "value": {scores[i % 4]}}}\n'
            for i in range(12)
        ),
        encoding="utf-8",
    )
    return folder


def _report(run: Path) -> Path:
    out = subprocess.run(
        [sys.executable, "-m", "runner.report", "run=r1", f"outputs_dir={run.parents[1]}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())


def test_report_draws_its_charts_whatever_names_and_scores_hold(hostile_run: Path) -> None:
    report = _report(hostile_run)
    with chromium_page(offline=True) as page:
        alerts: list[str] = []

        def dialog(d: Any) -> None:
            alerts.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.goto(report.as_uri())
        counts = drawn_charts(page)
        assert counts and all(n > 0 for n in counts)
        assert not alerts
        assert "<!--<script>" in page.inner_text("body")


def test_report_shows_bidi_controls_visibly(hostile_run: Path) -> None:
    report = _report(hostile_run)
    assert "\u202e" not in report.read_text(encoding="utf-8")
    with chromium_page(offline=True) as page:
        page.goto(report.as_uri())
        drawn_charts(page)
        assert "\\u202egpt-4o" in page.inner_text("[data-table=status]")
        # The charts' labels too: the spec's names are escaped before Vega draws them.
        svg = " ".join(page.locator(".chart svg").all_text_contents())
        assert "\\u202egpt-4o" in svg and "\u202e" not in svg
