"""A rejected key stops its prompts (issue 10, item 8), against llmock's scripted 401/403.

A 401 is recorded once; every other prompt sent with that key, in any group, is recorded
``not_sent`` at once. A 403 does the same for that model's prompts only. The console names
the api and model, never the key.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.helpers import post_json, read_jsonl, run_cli, write_jsonl

pytestmark = pytest.mark.integration

KEY = "test-key"  # what tests.helpers.runner_env sends


def _model() -> str:
    return f"gpt-rej-{uuid.uuid4().hex[:8]}"


def _fail(server: servers.Server, model: str, status: int) -> None:
    behavior = {"type": "fail", "status": status, "times": 1000, "match": {"model": model}}
    post_json(f"{server.url}/_llmock/scenario", {"behaviors": [behavior]})


def _prompt(model: str, i: int, group: str = "g1") -> dict[str, Any]:
    return {"id": f"{model}-{i}", "api": "openai", "model_name": model, "prompt": f"hi {i}",
            "group": group}  # fmt: skip


def _run(tmp_path: Path, server: servers.Server, records: list[dict[str, Any]]) -> Any:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    return run_cli(
        tmp_path,
        server.url,
        "experiment=exp",
        "max_queries=6000",
        "max_concurrency=1",
        "parallel=true",
        "shared_limits=none",
    )


def _lines(tmp_path: Path) -> list[dict[str, Any]]:
    (completed,) = (tmp_path / "outputs").glob("exp/*/completed.jsonl")
    return read_jsonl(completed)


def test_401_is_sent_once_and_every_prompt_with_that_key_is_not_sent(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model, other = _model(), _model()
    _fail(llmock_server, model, 401)
    # Two groups and two models, one key: the 401 stops them all.
    records = [_prompt(model, i, "g1") for i in range(10)]
    records += [_prompt(other, i, "g2") for i in range(10)]
    done = _run(tmp_path, llmock_server, records)
    lines = _lines(tmp_path)
    assert len(lines) == 20  # every prompt recorded
    kinds = Counter(line.get("error_kind") for line in lines)
    rejected = [line for line in lines if line.get("error_kind") == "fatal"]
    # The second group may have had one request on the wire when the 401 came back.
    assert len(rejected) == 1, kinds
    assert "HTTP 401" in rejected[0]["error"]
    assert kinds["not_sent"] >= 17, kinds
    assert all("rejected the API key" in line["error"] for line in lines if
               line.get("error_kind") == "not_sent")  # fmt: skip
    console = done.stdout + done.stderr
    assert "openai" in console and model in console and "HTTP 401" in console
    assert KEY not in console


def test_403_stops_that_model_only(tmp_path: Path, llmock_server: servers.Server) -> None:
    forbidden, allowed = _model(), _model()
    _fail(llmock_server, forbidden, 403)
    records = [_prompt(forbidden, i) for i in range(8)] + [_prompt(allowed, i) for i in range(8)]
    done = _run(tmp_path, llmock_server, records)
    lines = _lines(tmp_path)
    by_model: dict[str, Counter[str]] = {forbidden: Counter(), allowed: Counter()}
    for line in lines:
        by_model[line["model_name"]][line.get("error_kind") or line["status"]] += 1
    assert by_model[allowed] == Counter({"ok": 8}), by_model
    assert by_model[forbidden]["not_sent"] == 7, by_model
    console = done.stdout + done.stderr
    assert forbidden in console and "HTTP 403" in console
    assert KEY not in console
