"""The budget holds in every case (issue 23 item 1, issue 20 item 3), against servers that bill.

Each test names a case that broke the cap: multi-turn prompts, timed-out attempts,
``runner.evaluate`` and ``runner.rephrase``, a sweep, thinking prompts whose reservations
are far above their bills, and estimates that turn out low.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import run_experiment
from runner.config.compose import compose_settings
from runner.config.setup import CONF_DIR
from runner.evaluate import evaluate
from runner.evaluation.rephrase import rephrase_experiment
from tests import servers
from tests.budget_support import DEAR, USD_PER_TOKEN, budget_of, overrides
from tests.helpers import ROOT, read_jsonl, runner_env, write_jsonl
from tests.providers_support import llmock_bodies, openai_env, scenario

pytestmark = pytest.mark.integration


@pytest.fixture
def own_llmock() -> Iterator[servers.Server]:
    """A fresh llmock: its request journal holds this test's requests only."""
    with servers.llmock() as server:
        yield server


def test_multi_turn_prompts_count_the_answers_they_send_back(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    # Ten short turns: each later turn sends back every earlier answer, which is most of
    # what a conversation is billed for. Today's estimate left those answers out, so 16
    # conversations in flight took the bill past the cap.
    records = [
        {
            "id": f"c{i}",
            "api": "anthropic",
            "model_name": "dear-model",
            "prompt": ["hi"] * 10,
            "parameters": {"max_tokens": 16},
        }
        for i in range(40)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 12.0
    result = run_experiment(
        "exp",
        overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "max_concurrency=16"),
        env=runner_env(ANTHROPIC_API_KEY="k", ANTHROPIC_BASE_URL=f"{own_llmock.url}/anthropic"),
    )
    lines = read_jsonl(result.folder.completed)
    ok = [x for x in lines if x["status"] == "ok"]
    spent = sum(x["cost_usd"] for x in ok)
    assert len(ok) >= 2 and spent <= cap
    assert budget_of(result.folder.path)["spent_usd"] <= cap
    # Each conversation's turns went out: the bill is what runner priced.
    assert len(llmock_bodies(own_llmock, "dear-model")) == 10 * len(ok)


def test_a_timed_out_attempt_is_charged_its_reservation(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    # llmock answers after 1.5 s, so every attempt times out at 1 s, yet llmock finishes
    # each answer (a provider bills it). Today such attempts count $0 and the cap never ends.
    scenario(own_llmock, {"type": "delay", "seconds": 1.5, "times": 1000})
    records = [
        {
            "id": f"t{i}",
            "api": "openai",
            "model_name": "dear-model",
            "prompt": "hello",
            "parameters": {"max_tokens": 40},
        }
        for i in range(30)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 1.0
    result = run_experiment(
        "exp",
        overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "timeout_s=1", "max_attempts=2"),
        env=openai_env(own_llmock),
    )
    budget = budget_of(result.folder.path)
    sent = len(llmock_bodies(own_llmock, "dear-model"))
    assert 0 < budget["spent_usd"] <= cap  # today: $0, and every prompt sent twice
    assert budget["exhausted"] and budget["charged_unanswered"] == sent
    # Each attempt held at least what llmock bills for its answer (~20 tokens).
    assert budget["spent_usd"] >= sent * 20 * USD_PER_TOKEN
    assert sent < 30


def _dear_conf(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "dear_model.yaml").write_text(
        "api: openai\nmodel_name: dear-model\nparameters: {max_tokens: 40}\n"
        "price: {input_per_mtok: 1000, output_per_mtok: 1000}\n"
    )
    (conf / "evaluation" / "dear.yaml").write_text(
        "defaults:\n  - /model@grade.model_config: dear_model\n"
        "grade:\n  scorer: judge\n"
        '  template: "Rate 1-5: {OUTPUT_RESPONSE}"\n  max_queries: 60000\n'
    )
    (conf / "rephrase" / "dear.yaml").write_text(
        "defaults:\n  - /model@model_config: dear_model\n"
        'templates:\n  formal: "Rewrite formally: {INPUT_PROMPT}"\n'
        '  simple: "Rewrite simply: {INPUT_PROMPT}"\nmax_queries: 60000\n'
    )
    return conf


def test_runner_evaluate_honours_the_cap(
    tmp_path: Path, own_llmock: servers.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = _dear_conf(tmp_path)
    records = [
        {"id": f"e{i}", "api": "openai", "model_name": "cheap-model", "prompt": f"q{i}"}
        for i in range(40)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    env = openai_env(own_llmock)
    first = run_experiment("exp", overrides(tmp_path), env=env)
    assert first.exit_code == 0
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cap = 0.5
    report = evaluate(
        [
            f"run={first.folder.path}",
            "evaluation=dear",
            f"max_cost_usd={cap}",
            *overrides(tmp_path),
        ],
        env=env,
        conf_dir=conf,
    )
    judged = len(llmock_bodies(own_llmock, "dear-model"))
    assert 0 < judged < 40  # today: all 40 (the cap ignored)
    assert 0 < report.spent_usd <= cap
    assert report.budget_reached and report.exit_code == 1
    assert "max_cost_usd=$0.5000" in report.budget


def test_runner_rephrase_honours_the_cap(tmp_path: Path, own_llmock: servers.Server) -> None:
    conf = _dear_conf(tmp_path)
    records = [{"id": f"r{i}", "prompt": f"question {i}"} for i in range(30)]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 0.5
    settings = compose_settings(
        ["experiment=exp", "rephrase=dear", f"max_cost_usd={cap}", *overrides(tmp_path)], conf
    )
    result = rephrase_experiment(settings, env=openai_env(own_llmock))
    sent = len(llmock_bodies(own_llmock, "dear-model"))
    assert 0 < sent < 60 and result.failed == 60 - sent  # today: all 60
    assert 0 < result.spent_usd <= cap
    assert "max_cost_usd=$0.5000" in result.budget


def test_the_jobs_of_a_sweep_share_the_cap(tmp_path: Path, own_llmock: servers.Server) -> None:
    records = [
        {
            "id": f"s{i}",
            "api": "openai",
            "model_name": "dear-model",
            "prompt": "hello",
            "parameters": {"max_tokens": 40},
        }
        for i in range(40)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 0.6  # one job alone spends $0.40
    import subprocess

    done = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "runner",
            "-m",
            "experiment=exp",
            "max_concurrency=4,8",
            f"max_cost_usd={cap}",
            DEAR,
            *overrides(tmp_path),
        ],
        cwd=ROOT,
        env=runner_env(own_llmock.url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    folders = sorted(p.parent for p in (tmp_path / "outputs" / "exp").glob("*/run.json"))
    assert len(folders) == 2
    spent = [budget_of(f)["spent_usd"] for f in folders]
    assert sum(spent) <= cap  # today each job spends up to the whole cap
    assert done.returncode == 1, done.stderr
    (ledger,) = (tmp_path / "outputs" / ".sweeps").glob("*/budget.json")
    assert json.loads(ledger.read_text())["spent_usd"] == pytest.approx(sum(spent), abs=1e-6)


def test_a_cap_below_a_batch_chunk_sends_what_fits(
    tmp_path: Path, own_llmock: servers.Server
) -> None:
    # 30 prompts in one chunk, a cap for about ten of them: today the chunk is refused whole.
    records = [
        {
            "id": f"b{i}",
            "api": "openai",
            "model_name": "dear-model",
            "prompt": f"question {i}",
            "parameters": {"max_tokens": 16},
        }
        for i in range(30)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 0.6  # a prompt reserves about $0.05 at batch price before any bill
    result = run_experiment(
        "exp",
        overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "mode=batch", "batch_poll_s=0.2"),
        env=openai_env(own_llmock),
    )
    lines = read_jsonl(result.folder.completed)
    ok = [x for x in lines if x["status"] == "ok"]
    over = [x for x in lines if x["error_kind"] == "budget"]
    assert ok and over and len(ok) + len(over) == 30
    assert all(x["batch_id"] for x in ok)
    assert sum(x["cost_usd"] for x in ok) <= cap
    assert budget_of(result.folder.path)["spent_usd"] <= cap
