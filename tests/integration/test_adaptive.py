"""Adaptive slowdown against a real per-key quota (llmock --rpm)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.helpers import get_json, read_jsonl, run_cli, write_jsonl

pytestmark = pytest.mark.integration


@pytest.fixture
def quota_llmock() -> Iterator[servers.Server]:
    """llmock allowing 600 requests a minute per key (a bucket of 600 refilled at 10/s)."""
    with servers.llmock("--rpm", "600") as server:
        yield server


def test_group_slows_down_on_429s_and_honours_retry_after(
    tmp_path: Path, quota_llmock: servers.Server
) -> None:
    n = 680  # 600 go through at once; the rest must wait for the quota to refill
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [
            {"id": i, "api": "openai", "model_name": "gpt-quota", "prompt": f"q{i}"}
            for i in range(n)
        ],
    )
    out = run_cli(
        tmp_path,
        quota_llmock.url,
        "experiment=exp",
        "max_queries=60000",
        "max_concurrency=16",
        "max_attempts=20",
        "shared_limits=none",
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (run_dir,) = (tmp_path / "outputs" / "exp").iterdir()
    lines = read_jsonl(run_dir / "completed.jsonl")
    assert len(lines) == n and {line["status"] for line in lines} == {"ok"}
    meta = json.loads((run_dir / "run.json").read_text())
    group = meta["groups"]["all"]
    assert group["slowdowns"] >= 1
    rejected = sum(line["attempts"] - 1 for line in lines)
    # Without adaptation 16 workers retrying on their own would hit the quota again and
    # again; paused and paced at the announced refill rate, it gets few 429s (about 16).
    assert rejected < 40, rejected
    verdict = get_json(f"{quota_llmock.url}/_llmock/verdict")
    assert not [f for f in verdict["findings"] if f["code"] == "retry_after_ignored"]
