"""Hostile experiment files through the command line: exit 2, one line, no run folder.

A line nested 5,000 levels deep (or 500, read but not writable as a result line) ended
"unexpected RecursionError ... please report it", exit 1, with an empty run folder left
behind; ``temperature: NaN`` was sent as null.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from tests.budget_support import serve
from tests.integration.test_bad_input_lines import _run, _runner

pytestmark = pytest.mark.integration

GOOD = '{"id": "a", "api": "openai", "model_name": "m", "prompt": "hi"}\n'


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"id": "b", "api": "openai", "prompt": "hi", "x": ' + "[" * 5000 + "]" * 5000 + "}",
         "nested more than"),
        ('{"id": 1' + "0" * 5000 + ', "api": "openai", "prompt": "hi"}', "4,300 digits"),
        ('{"id": "b", "api": "openai", "prompt": "hi", "x": ' + "[" * 500 + "]" * 500 + "}",
         "nested deeper than 200 levels"),
        ('{"id": "b", "api": "openai", "prompt": "hi", "parameters": {"temperature": NaN}}',
         "field 'parameters.temperature' is NaN or infinite"),
    ],
)  # fmt: skip
def test_a_hostile_line_is_bad_input_and_leaves_no_run_folder(
    tmp_path: Path, line: str, said: str
) -> None:
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "e.jsonl").write_text(GOOD + line + "\n", encoding="utf-8")
    code, out, err = _runner(tmp_path)
    assert code == 2, (out, err)
    assert "e.jsonl:2: " in out + err and said in out + err, (out, err)
    assert "Traceback" not in out + err and "please report" not in out + err
    assert not (tmp_path / "outputs" / "e").exists()


def test_an_experiment_named_with_escapes_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    """Its first log line, ``Results:`` and ``Report:`` printed ESC and BEL as they were."""
    name = "e\x1b]0;TITLE\x07\x1b[2J"
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / f"{name}.jsonl").write_text(GOOD, encoding="utf-8")
    code, out, err = _run(tmp_path, "runner", f"experiment={name}", "max_attempts=1")
    assert code == 1, (out, err)  # nothing listens on the test's port: an error line
    assert "Results: " in out and "Report: " in out
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "\\u001b]0;TITLE\\u0007" in out and "\\u001b]0;TITLE\\u0007" in err
    code, out, err = _run(tmp_path, "runner.report", f"experiment={name}")
    assert code == 0 and out.endswith("report.html\n"), (out, err)  # found, 'a[' as written
    assert "\x1b" not in out + err and "\\u001b]0;TITLE" in out
    # A sweep's own closing lines (Sweep:, Compare:) too.
    code, out, err = _run(
        tmp_path, "runner", "-m", f"experiment={name}", "max_attempts=1", "max_queries=6000,12000"
    )
    assert code == 1 and "Sweep:   2 runs" in out and "Compare: " in out, (out, err)
    assert "\x1b" not in out + err and "\x07" not in out + err


def test_run_id_of_a_folder_made_by_hand_is_refused_and_left_alone(tmp_path: Path) -> None:
    """It appended the run's lines to the folder's completed.jsonl, replaced its report.html."""
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "e.jsonl").write_text(GOOD, encoding="utf-8")
    mine = tmp_path / "outputs" / "e" / "mine"
    mine.mkdir(parents=True)
    (mine / "completed.jsonl").write_text('{"x": 1}\n', encoding="utf-8")
    (mine / "report.html").write_text("my own\n", encoding="utf-8")
    code, out, err = _runner(tmp_path, "run_id=mine")
    assert code == 2, (out, err)
    assert "already holds completed.jsonl, report.html and is no run" in err, err
    assert sorted(p.name for p in mine.iterdir()) == ["completed.jsonl", "report.html"]
    assert (mine / "completed.jsonl").read_text(encoding="utf-8") == '{"x": 1}\n'
    assert (mine / "report.html").read_text(encoding="utf-8") == "my own\n"
    # An empty folder made by hand is taken, and kept.
    (tmp_path / "outputs" / "e" / "empty").mkdir()
    code, out, err = _runner(tmp_path, "run_id=empty", "max_attempts=1")
    assert code == 1 and (tmp_path / "outputs" / "e" / "empty" / "run.json").exists(), err


def test_cfg_job_prints_no_key_and_no_url_password(tmp_path: Path) -> None:
    """Hydra prints the config itself: --resolve showed the key, a URL its password."""
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "e.jsonl").write_text(GOOD, encoding="utf-8")
    key = "sk-cfgcanary0123456789abcdef"
    code, out, err = _run(
        tmp_path,
        "runner",
        "experiment=e",
        "apis.openai.api_key=${oc.env:OPENAI_API_KEY}",
        "apis.anthropic.base_url=http://user:hunter2pass@127.0.0.1:9/v1",
        "--cfg",
        "job",
        "--resolve",
        env={"OPENAI_API_KEY": key},
    )
    assert code == 0, err
    assert "api_key: '[REDACTED]'" in out or "api_key: [REDACTED]" in out, out
    assert "base_url: http://127.0.0.1:9/v1" in out, out
    assert key not in out + err and "hunter2pass" not in out + err


def _hostile_server() -> web.Application:
    """Answers as a hostile or broken server might: bodies nested 5,000 levels deep.

    No provider documents such a body; the shapes around the nesting are OpenAI's chat
    completion error and stream chunk (https://platform.openai.com/docs/api-reference/chat).
    """
    deep = "[" * 5000 + "]" * 5000

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            return web.Response(text='{"error": ' + deep + "}", status=400)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(f"data: {deep}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_body_nested_too_deep_is_an_error_line_not_a_crash(
    tmp_path: Path, stream: bool
) -> None:
    """An error body or stream chunk of [[[[... was 'internal error: RecursionError' with a
    traceback per prompt on the terminal."""
    (tmp_path / "experiments").mkdir()
    record = GOOD if not stream else GOOD.replace('"hi"}', '"hi", "parameters": {"stream": true}}')
    (tmp_path / "experiments" / "e.jsonl").write_text(record, encoding="utf-8")
    with serve(_hostile_server()) as url:
        code, out, err = _run(
            tmp_path,
            "runner",
            "experiment=e",
            "max_attempts=1",
            "index=false",
            env={"OPENAI_BASE_URL": url + "/v1"},
        )
    assert code == 1, (out, err)
    assert "Traceback" not in out + err and "RecursionError" not in out + err
    (results,) = (tmp_path / "outputs" / "e").glob("*/completed.jsonl")
    (line,) = [json.loads(text) for text in results.read_text(encoding="utf-8").splitlines()]
    assert line["status"] == "error" and "internal error" not in line["error"], line


def test_an_experiment_named_with_glob_characters_is_read_as_written(tmp_path: Path) -> None:
    """DuckDB globs the paths it reads: the results of run r of experiment 'a[1]' were read
    as run r of a1's (its digest, its report, its rows in the index, under a1, twice)."""
    (tmp_path / "experiments").mkdir()
    two = GOOD + GOOD.replace('"a"', '"b"')
    (tmp_path / "experiments" / "a1.jsonl").write_text(GOOD, encoding="utf-8")
    (tmp_path / "experiments" / "a[1].jsonl").write_text(two, encoding="utf-8")
    code, out, err = _run(tmp_path, "runner", "experiment=a1", "max_attempts=1", "run_id=r")
    assert code == 1 and "1 error" in out, (out, err)
    code, out, err = _run(tmp_path, "runner", "experiment=a[1]", "max_attempts=1", "run_id=r")
    assert code == 1 and "2 error" in out, (out, err)
    assert "x2" in out and "x1" not in out, out  # the digest of its own error lines
    code, out, err = _run(
        tmp_path,
        "runner.query",
        "--format",
        "csv",
        "SELECT experiment, count(*) AS n FROM responses GROUP BY ALL ORDER BY 1",
    )
    assert out.splitlines() == ["experiment,n", "a1,1", "a[1],2"], (out, err)
