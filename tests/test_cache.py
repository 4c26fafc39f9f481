"""The response cache against llmock: a second run sends nothing; refresh, only, ttl."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from runner import run_experiment
from tests import servers
from tests.conftest import read_jsonl, write_jsonl
from tests.providers_support import llmock_bodies, unique_model

CANARY_KEY = "sk-canary-0123456789abcdef"


def _records(model: str, n: int = 3) -> list[dict[str, Any]]:
    return [
        {"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"question {i}",
         "parameters": {"max_tokens": 8, "temperature": 0.5}}
        for i in range(n)
    ]  # fmt: skip


def _run(
    tmp_path: Path, server: servers.Server, records: list[dict[str, Any]], *overrides: str
) -> tuple[list[dict[str, Any]], int]:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    result = run_experiment(
        "exp",
        [
            f"experiments_dir={tmp_path / 'experiments'}",
            f"outputs_dir={tmp_path / 'outputs'}",
            f"cache_dir={tmp_path / 'cache'}",
            "max_queries=6000",
            "backoff_base_s=0.05",
            "index=false",
            "progress=off",
            *overrides,
        ],
        env={"OPENAI_API_KEY": CANARY_KEY, "OPENAI_BASE_URL": f"{server.url}/v1"},
    )
    lines = sorted(read_jsonl(result.folder.completed), key=lambda line: str(line["id"]))
    return lines, result.exit_code


def test_second_run_sends_nothing_and_says_cached(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("cache")
    first, code = _run(tmp_path, llmock_server, _records(model))
    assert code == 0 and [line["cached"] for line in first] == [False] * 3
    assert len(llmock_bodies(llmock_server, model)) == 3
    second, code = _run(tmp_path, llmock_server, _records(model))
    assert code == 0
    assert len(llmock_bodies(llmock_server, model)) == 3  # nothing more was sent
    for a, b in zip(first, second, strict=True):
        assert b["cached"] is True and b["status"] == "ok"
        assert b["response"] == a["response"]
        assert b["usage"] == a["usage"] and b["latency_s"] == a["latency_s"]
        assert b["run_id"] != a["run_id"]
    # The key is never written: not in the store, nor in its WAL.
    for path in (tmp_path / "cache").iterdir():
        assert CANARY_KEY.encode() not in path.read_bytes(), path


def test_repeated_prompt_keeps_its_samples(tmp_path: Path, llmock_server: servers.Server) -> None:
    """N identical requests in a run get N answers; a rerun gets those same N back."""
    model = unique_model("cache-samples")
    same = [{**_records(model, 1)[0], "id": f"s{i}"} for i in range(3)]
    first, _ = _run(tmp_path, llmock_server, same)
    assert len(llmock_bodies(llmock_server, model)) == 3  # each occurrence was sent
    second, _ = _run(tmp_path, llmock_server, same)
    assert len(llmock_bodies(llmock_server, model)) == 3
    assert [line["cached"] for line in second] == [True] * 3
    assert [line["response"] for line in second] == [line["response"] for line in first]
    # A run with one more sample sends only that one.
    more, _ = _run(tmp_path, llmock_server, [*same, {**same[0], "id": "s3"}])
    assert len(llmock_bodies(llmock_server, model)) == 4
    assert [line["cached"] for line in more] == [True, True, True, False]


def test_refresh_sends_and_overwrites_only_sends_nothing(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = unique_model("cache-modes")
    records = _records(model, 2)
    _run(tmp_path, llmock_server, records)
    refreshed, code = _run(tmp_path, llmock_server, records, "cache=refresh")
    assert code == 0 and [line["cached"] for line in refreshed] == [False, False]
    assert len(llmock_bodies(llmock_server, model)) == 4
    new = _records(model + "-new", 1)
    only, code = _run(tmp_path, llmock_server, [*records, *new], "cache=only")
    assert len(llmock_bodies(llmock_server, model)) == 4
    assert llmock_bodies(llmock_server, model + "-new") == []
    by_id = {line["model_name"] + line["id"]: line for line in only}
    hit = by_id[model + "p0"]
    assert hit["cached"] and hit["response"] == refreshed[0]["response"]
    missed = by_id[model + "-newp0"]
    assert missed["status"] == "error" and missed["error_kind"] == "cache_miss"
    assert "cache=on" in missed["error"]
    assert code == 1  # as for any error line


def test_errors_are_never_cached(tmp_path: Path, llmock_server: servers.Server) -> None:
    from tests.providers_support import scenario

    model = unique_model("cache-errors")
    scenario(llmock_server, {"type": "fail", "status": 400, "times": 1, "match": {"model": model}})
    lines, code = _run(tmp_path, llmock_server, _records(model, 1))
    assert lines[0]["status"] == "error" and code == 1
    again, code = _run(tmp_path, llmock_server, _records(model, 1))
    assert again[0]["status"] == "ok" and again[0]["cached"] is False and code == 0
    with sqlite3.connect(tmp_path / "cache" / "responses.sqlite") as db:
        assert db.execute("SELECT count(*) FROM entries").fetchone()[0] == 1
