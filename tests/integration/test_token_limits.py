"""Token limits that hold (issue 13.1, 13.2), against llmock's real ``--tpm`` quota.

llmock charges each request ``len(body) // 4 + max_tokens`` up front and never refunds it,
as OpenAI documents its TPM limit: runner's OpenAI accounting is ``reserved`` and must not
overrun it. The quota starts full, so the test first spends most of it with one request of
its own: the run then meets the refill rate within seconds instead of a minute.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from runner.config.schema import RunConfig
from runner.prompts.records import PromptRecord
from runner.providers.base import ProviderContext
from runner.providers.openai import OpenAIProvider
from tests import servers
from tests.helpers import read_jsonl, run_cli, write_jsonl

pytestmark = pytest.mark.integration


TPM = 30000


KEY = "test-key"  # what tests.helpers.runner_env sends


@pytest.fixture
def tpm_llmock() -> Iterator[servers.Server]:
    with servers.llmock("--tpm", str(TPM)) as server:
        yield server


def _spend(server: servers.Server, tokens: int) -> None:
    """Take ``tokens`` of the key's quota with one request of the test's own."""
    body = {"model": "drain", "messages": [{"role": "user", "content": "x"}], "max_tokens": tokens}
    request = urllib.request.Request(
        f"{server.url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def _records(model: str, n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"tell me {i}",
         "parameters": {"max_tokens": 200}}
        for i in range(n)
    ]  # fmt: skip


def _lines(tmp_path: Path) -> list[dict[str, Any]]:
    (completed,) = (tmp_path / "outputs").glob("exp/*/completed.jsonl")
    return read_jsonl(completed)


def _sent(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["timestamp_sent"]).timestamp()


def test_reserved_tpm_gets_no_429_and_uses_the_quota(
    tmp_path: Path, tpm_llmock: servers.Server
) -> None:
    _spend(tpm_llmock, TPM - 800)  # 800 left (and what refills while runner starts)
    model = f"gpt-tpm-{uuid.uuid4().hex[:6]}"
    n = 16
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", _records(model, n))
    done = run_cli(
        tmp_path,
        tpm_llmock.url,
        "experiment=exp",
        "max_queries=6000",
        f"max_tokens_per_minute={TPM}",
        # Few in flight: each request is charged after the answers before it came back,
        # which is when refunding the unused max_tokens would overrun the quota.
        "max_concurrency=2",
        "shared_limits=none",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = _lines(tmp_path)
    assert [line["status"] for line in lines] == ["ok"] * n
    assert all(line["attempts"] == 1 for line in lines), "a request was answered 429"
    # What llmock charged each request: its body's characters / 4 plus max_tokens.
    provider = OpenAIProvider(ProviderContext(RunConfig()))
    cost = provider.estimate_tokens(PromptRecord(_records(model, 1)[0])).input + 200
    starts = sorted(_sent(line) for line in lines)
    span = starts[-1] - starts[0]
    # Everything but the last request's tokens was used within the span: at least 90% of
    # what the quota allowed in that time (the pacing is not needlessly slow).
    assert (n - 1) * cost / (span * TPM / 60) >= 0.9


def test_actual_accounting_refunds_unused_tokens(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = f"gpt-tpm-{uuid.uuid4().hex[:6]}"
    n = 14  # about 3,100 tokens estimated: 6 s at 30,000/min if never refunded
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", _records(model, n))
    started = time.monotonic()
    done = run_cli(
        tmp_path,
        llmock_server.url,
        "experiment=exp",
        "max_queries=6000",
        f"max_tokens_per_minute={TPM}",
        "token_accounting=actual",
        "max_concurrency=1",
        "shared_limits=none",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    starts = sorted(_sent(line) for line in _lines(tmp_path))
    # Each answer reports a few tokens: the rest of its 200 comes back at once.
    assert starts[-1] - starts[0] < 2.5, time.monotonic() - started
