"""Issue 10.3: keys never reach the disk or the console.

llmock, scripted to reject a canary key with OpenAI's 401 body ("Incorrect API key provided:
sk-..."), is run through every entry point; then every file under the test's tree and every
captured output is searched for the canary. A key written literally on the command line is
refused before Hydra saves or prints anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from runner import redaction
from tests import servers
from tests.helpers import ROOT, post_json, read_jsonl, write_jsonl

pytestmark = pytest.mark.integration


def _files_holding(root: Path, needle: str) -> list[Path]:
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


class _Cli:
    """Runs entry points in one tree and keeps everything they printed."""

    def __init__(self, tmp_path: Path, server_url: str, key: str) -> None:
        self.tmp = tmp_path
        self.printed: list[str] = []
        self.env = {k: v for k, v in os.environ.items() if "API_KEY" not in k}
        self.env.update(OPENAI_API_KEY=key, OPENAI_BASE_URL=f"{server_url}/v1")
        self.dirs = [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
        ]

    def run(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.printed += [done.stdout, done.stderr]
        return done

    def runner(self, *args: str) -> subprocess.CompletedProcess[str]:
        overrides = [*self.dirs, f"limits_dir={self.tmp / 'limits'}", "progress=off"]
        return self.run("runner", *args, *overrides, "max_attempts=1", "max_queries=6000")


def _reject(server: servers.Server, key: str, model: str) -> None:
    """Every request for ``model`` is a 401 that echoes ``key``, as OpenAI's does."""
    message = f"Incorrect API key provided: {key}. You can find your API key at ..."
    behavior = {"type": "fail", "status": 401, "message": message, "code": "invalid_api_key"}
    behavior.update(times=None, match={"model": model})
    post_json(f"{server.url}/_llmock/scenario", {"behaviors": [behavior]})


def test_a_key_echoed_by_the_api_reaches_no_file_and_no_console(tmp_path: Path) -> None:
    key = f"sk-canary-{uuid.uuid4().hex}"
    literal = f"sk-literal-{uuid.uuid4().hex}"
    # p0-p2 are answered (then judged by a model whose key is rejected); p3-p5 are rejected.
    records = [
        {"id": f"p{i}", "api": "openai", "model_name": "ok-m" if i < 3 else "m", "prompt": "q"}
        for i in range(6)
    ]
    write_jsonl(tmp_path / "experiments" / "e.jsonl", records)
    with servers.llmock() as server:  # its own: the scripted 401s last for the whole test
        _reject(server, key, "m")
        _reject(server, key, "gpt-4o-mini")  # the judge of evaluation=judge_helpfulness
        cli = _Cli(tmp_path, server.url, key)
        first = cli.runner("experiment=e", "run_id=r1", "index=true", "log_level=DEBUG")
        assert first.returncode == 1, first.stderr
        resumed = cli.runner("experiment=e", "resume=r1", "index=true")
        assert resumed.returncode == 1, resumed.stderr
        sweep = cli.runner("-m", "experiment=e", "max_concurrency=1,2", "index=true")
        assert sweep.returncode == 1, sweep.stderr
        for refused in (
            cli.runner("experiment=e", f"apis.openai.api_key={literal}"),
            cli.runner("experiment=e", "resume=r1", f"apis.openai.api_key={literal}"),
            cli.runner("-m", "experiment=e", f"apis.openai.api_key={literal},x{literal}"),
            cli.runner("experiment=e", f"+apis.openai.api_key='{literal}'"),
            cli.run("runner.check", "experiment=e", f"apis.openai.api_key={literal}", *cli.dirs),
        ):
            assert refused.returncode == 2, refused.stderr
            assert "api_key" in refused.stderr and "environment" in refused.stderr
        checked = cli.run("runner.check", "experiment=e", *cli.dirs)
        assert checked.returncode == 0, checked.stderr
        evaluated = cli.run(
            "runner.evaluate", "run=r1", "experiment=e", "evaluation=judge_helpfulness",
            *cli.dirs,
        )  # fmt: skip
        indexed = cli.run("runner.index", "--outputs-dir", str(tmp_path / "outputs"), "--rebuild")
        assert indexed.returncode == 0, indexed.stderr
        queried = cli.run(
            "runner.query", "--outputs-dir", str(tmp_path / "outputs"), "--format", "json",
            "SELECT error FROM responses UNION ALL SELECT value FROM evaluations",
        )  # fmt: skip
        assert queried.returncode == 0, queried.stderr
    lines = read_jsonl(tmp_path / "outputs/e/r1/completed.jsonl")
    errors = [line["error"] for line in lines if line["status"] == "error"]
    # The first 401 is recorded as the API said it (masked); the key's other prompts are
    # then not sent at all (issue 10.8), so a resume after fixing the key sends them.
    echoed = [e for e in errors if f"provided: {redaction.MASK}" in e]
    assert len(errors) == 3 and echoed, errors
    assert all(e in echoed or "rejected the API key" in e for e in errors), errors
    assert redaction.MASK in queried.stdout  # the index holds the masked text
    assert evaluated.returncode == 1, evaluated.stderr  # the judge's key was rejected
    evaluations = (tmp_path / "outputs/e/r1/evaluations.jsonl").read_text()
    assert redaction.MASK in evaluations
    assert list((tmp_path / "outputs").glob(".sweeps/*/multirun.yaml"))  # the sweep ran
    for needle in (key, literal):
        assert _files_holding(tmp_path, needle) == []
        assert [text for text in cli.printed if needle in text] == []


def test_primary_key_response_leaves_results_and_index_whole(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    records = [{"id": i, "prompt": f"p{i}", "api": "openai", "model_name": "m-pk"} for i in [1, 2]]
    write_jsonl(tmp_path / "experiments" / "e.jsonl", records)
    cli = _Cli(tmp_path, llmock_server.url, "test-key")
    cli.env["PRIMARY_KEY"] = "response"
    done = cli.runner("experiment=e", "run_id=r1", "index=true")
    assert done.returncode == 0, done.stderr
    lines = read_jsonl(tmp_path / "outputs/e/r1/completed.jsonl")
    assert all(line["status"] == "ok" and line["response"] for line in lines), lines
    assert redaction.MASK not in (tmp_path / "outputs/e/r1/completed.jsonl").read_text()
    queried = cli.run(
        "runner.query", "--outputs-dir", str(tmp_path / "outputs"), "--format", "json",
        "SELECT response FROM responses WHERE response IS NOT NULL",
    )  # fmt: skip
    assert queried.returncode == 0, queried.stderr
    assert len(json.loads(queried.stdout)) == 2


def test_a_password_in_the_base_url_reaches_no_file_and_no_console(tmp_path: Path) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    records = [{"id": i, "prompt": f"p{i}", "api": "openai", "model_name": "m-u"} for i in [1, 2]]
    write_jsonl(tmp_path / "experiments" / "e.jsonl", records)
    with servers.llmock() as server:
        url = server.url.replace("http://", f"http://user:{password}@") + "/v1"
        cli = _Cli(tmp_path, server.url, "unused")
        # No key: the server is reached with the URL's basic auth, as a proxy would want.
        del cli.env["OPENAI_API_KEY"]
        cli.env["OPENAI_BASE_URL"] = url
        cache = ["cache=on", f"cache_dir={tmp_path / 'cache'}", "index=true"]
        by_env = cli.runner("experiment=e", "run_id=r1", *cache)
        assert by_env.returncode == 0, by_env.stderr
        del cli.env["OPENAI_BASE_URL"]
        by_config = cli.runner("experiment=e", "run_id=r2", f"apis.openai.base_url={url}", *cache)
        assert by_config.returncode == 0, by_config.stderr
        sweep = cli.runner("-m", "experiment=e", "max_concurrency=1,2", f"apis.openai.base_url={url}", *cache)  # noqa: E501  # fmt: skip
        assert sweep.returncode == 0, sweep.stderr
        reported = cli.run("runner.report", "experiment=e", f"outputs_dir={tmp_path / 'outputs'}")
        assert reported.returncode == 0, reported.stderr
        indexed = cli.run("runner.index", "--outputs-dir", str(tmp_path / "outputs"), "--rebuild")
        assert indexed.returncode == 0, indexed.stderr
    assert len(list((tmp_path / "outputs/e").glob("*/report.html"))) == 4
    assert list((tmp_path / "cache").iterdir())  # the cache was written
    assert list((tmp_path / "outputs").glob(".sweeps/*/multirun.yaml"))
    assert _files_holding(tmp_path, password) == []
    assert [text for text in cli.printed if password in text] == []
