"""The budget cap (issue 15 item 4) and the dry-run estimate (item 3), against llmock."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from runner.config.setup import CONF_DIR
from tests import servers
from tests.helpers import ROOT, get_json, read_jsonl, runner_env, write_jsonl
from tests.providers_support import llmock_bodies, openai_env, openai_records

pytestmark = pytest.mark.integration


# Dear on purpose: a request costs cents, so a budget of a few dimes runs out mid-run.
DEAR = "prices={dear-model:{input_per_mtok:1000,output_per_mtok:1000}}"


@pytest.fixture
def own_llmock() -> Iterator[servers.Server]:
    """A fresh llmock: its request journal holds this test's requests only."""
    with servers.llmock() as server:
        yield server


def _requests(server: servers.Server, model: str) -> int:
    return len(llmock_bodies(server, model))


def _overrides(tmp_path: Path, *more: str) -> list[str]:
    return [
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"limits_dir={tmp_path / 'limits'}",
        "max_queries=60000",
        "progress=off",
        "index=false",
        *more,
    ]


def _records(model: str, n: int) -> list[dict[str, Any]]:
    return openai_records(model, n, max_tokens=40)


def test_spending_never_exceeds_the_cap_and_a_resume_continues(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", _records("dear-model", 40))
    cap = 0.30
    result = run_experiment(
        "exp",
        _overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "max_concurrency=8"),
        env=openai_env(own_llmock),
    )
    assert result.exit_code == 1
    lines = read_jsonl(result.folder.completed)
    ok = [x for x in lines if x["status"] == "ok"]
    over = [x for x in lines if x["error_kind"] == "budget"]
    assert ok and over and len(ok) + len(over) == 40
    spent = sum(x["cost_usd"] for x in ok)
    assert 0 < spent <= cap
    assert all(x["cost_usd"] == 0 and x["attempts"] == 0 for x in over)  # never sent
    assert "max_cost_usd=$0.3000" in over[0]["error"]
    assert _requests(own_llmock, "dear-model") == len(ok)
    budget = json.loads(result.folder.meta.read_text())["cost"]["budget"]
    assert budget["exhausted"] and budget["spent_usd"] == pytest.approx(spent, abs=1e-6)
    assert budget["not_sent"] == {"generation": len(over)}
    assert "not sent: the budget was reached" in result.summary.format()

    again = run_experiment(
        "exp",
        _overrides(tmp_path, f"resume={result.folder.run_id}", "max_cost_usd=100"),
        env=openai_env(own_llmock),
    )
    assert again.exit_code == 0
    lines = read_jsonl(again.folder.completed)
    assert len(lines) == 40 and all(x["status"] == "ok" for x in lines)
    assert _requests(own_llmock, "dear-model") == 40  # every prompt sent exactly once


def test_judges_have_their_own_line_within_the_same_cap(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "dear_judge.yaml").write_text(
        "api: openai\nmodel_name: dear-judge\nparameters: {max_tokens: 40}\n"
        "price: {input_per_mtok: 1000, output_per_mtok: 1000}\n"
    )
    (conf / "evaluation" / "dear.yaml").write_text(
        "defaults:\n  - /model@grade.model_config: dear_judge\n"
        "grade:\n  scorer: judge\n"
        '  template: "Rate 1-5: {OUTPUT_RESPONSE}"\n  max_queries: 60000\n'
    )
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", _records("dear-model", 30))
    cap = 0.40
    result = run_experiment(
        "exp",
        _overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "evaluation=dear", "max_concurrency=4"),
        env=openai_env(own_llmock),
        conf_dir=conf,
    )
    assert result.exit_code == 1
    budget = json.loads(result.folder.meta.read_text())["cost"]["budget"]
    assert set(budget["lines"]) == {"generation", "judge:grade"}
    assert budget["spent_usd"] <= cap
    sent = _requests(own_llmock, "dear-model") + _requests(own_llmock, "dear-judge")
    assert _requests(own_llmock, "dear-judge") > 0 and sent < 60
    assert "judge:grade" in result.summary.format()


def _cli(tmp_path: Path, server: servers.Server, module: str, *args: str) -> Any:
    python = str(ROOT / ".venv" / "bin" / "python")
    return subprocess.run(
        [python, "-m", module, "experiment=exp", *_overrides(tmp_path), *args],
        cwd=ROOT,
        env=runner_env(server.url),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_budget_with_an_unpriced_model_sends_nothing(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    model = f"gpt-test-{uuid.uuid4().hex[:8]}"
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", _records(model, 3))
    done = _cli(tmp_path, own_llmock, "runner", "max_cost_usd=1")
    assert done.returncode == 2, done.stderr
    assert f"no known price for openai/{model}" in done.stderr
    assert "Traceback" not in done.stderr
    done = _cli(tmp_path, own_llmock, "runner", "max_cost_usd=0")
    assert done.returncode == 2 and "max_cost_usd" in done.stderr
    assert _requests(own_llmock, model) == 0


def test_check_prints_the_estimate_and_sends_nothing(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    records = [
        *_records("gpt-4o-mini", 1000),
        {"id": "x", "api": "openai", "model_name": "unpriced", "prompt": "hello"},
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    done = _cli(tmp_path, own_llmock, "runner.check", "max_queries=3003")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    rows = out.splitlines()
    (row,) = [x.split() for x in rows if x.startswith("  openai/gpt-4o-mini")]
    # prompts, input tokens, output tokens (1000 x max_tokens 40), online, batch, cached, time
    assert row[1] == "1,000" and row[3] == "40,000"
    online, batch = float(row[4].lstrip("$")), float(row[5].lstrip("$"))
    assert row[4].startswith("$") and batch == pytest.approx(online / 2, rel=0.05)
    tokens_in = float(row[2].replace(",", ""))
    assert online == pytest.approx((tokens_in * 0.15 + 40_000 * 0.6) / 1e6, rel=0.01)
    assert row[6] == "0" and " ".join(row[7:]) == "20 s"  # 1001 prompts at 3003/min
    (unpriced,) = [
        line.split() for line in out.splitlines() if line.startswith("  openai/unpriced")
    ]
    assert unpriced[4] == "-" and unpriced[5] == "-"  # unknown, never $0
    assert "The limits imply about 20 s" in out
    assert get_json(f"{own_llmock.url}/_llmock/requests")["count"] == 0
