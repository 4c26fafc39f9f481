"""Cost per result (issue 15 item 2): prices, cost_usd on every line, totals, the index."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from runner import run_experiment
from runner.config.setup import CONF_DIR
from runner.cost.budget import Budget
from runner.cost.prices import Price, PriceBook, cost_of
from runner.index import read_connection, update_index
from runner.index.db import write_connection
from runner.index.schema import RUN_TOKEN_COLUMNS, SCHEMA_VERSION, VERSION_4_RESPONSE_COLUMNS
from runner.output.money import dollars
from runner.output.results import Outcome
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion
from tests import servers
from tests.helpers import read_jsonl, write_jsonl
from tests.providers_support import openai_env, openai_records

# Bundled genai-prices 0.2.3: gpt-4o-mini is $0.15 / $0.60 per million, batch $0.075 / $0.30.
MINI_IN, MINI_OUT = 0.15, 0.60


def _record(api: str = "openai", model: str = "gpt-4o-mini") -> PromptRecord:
    return PromptRecord({"id": "a", "api": api, "model_name": model, "prompt": "hi"}, "f", 1)


def _outcome(tokens_in: int, tokens_out: int, **kw: Any) -> Outcome:
    completion = Completion("x", input_tokens=tokens_in, output_tokens=tokens_out)
    return Outcome(_record(), "g", 1, completion=completion, **kw)


def test_bundled_prices_online_batch_and_unknown() -> None:
    assert cost_of("openai", "gpt-4o-mini", 1e6, 1e6, batch=False) == pytest.approx(0.75)
    # genai-prices knows OpenAI's batch price; Anthropic's 3.5 Haiku has none there: half.
    assert cost_of("openai", "gpt-4o-mini", 1e6, 1e6, batch=True) == pytest.approx(0.375)
    online = cost_of("anthropic", "claude-3-5-haiku-latest", 1e6, 0, batch=False)
    assert online is not None
    batch = cost_of("anthropic", "claude-3-5-haiku-latest", 1e6, 0, batch=True)
    assert batch == pytest.approx(online / 2)
    # The rates read once agree with genai-prices' own calculation, tiers included.
    from genai_prices import Usage, calc_price

    for model, provider, api in [("gpt-4o-mini", "openai", "openai"),
                                 ("gemini-2.5-pro", "google", "gemini")]:  # fmt: skip
        for tokens in [(123, 456), (300_000, 1_000)]:  # 2.5 Pro's tier starts at 200k
            usage = Usage(input_tokens=tokens[0], output_tokens=tokens[1])
            want = calc_price(usage, model, provider_id=provider).total_price
            assert cost_of(api, model, *tokens, batch=False) == pytest.approx(float(want))
    assert cost_of("local", "gemma-3-270m", 1e6, 1e6, batch=False) == 0.0
    assert cost_of("ollama", "llama3", 1e6, 1e6, batch=False) == 0.0


def test_unknown_price_is_null_with_one_warning_and_overrides_win() -> None:
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING")
    try:
        book = PriceBook()
        assert book.cost_of("openai", "no-such-model", 10, 10, batch=False) is None
        assert book.cost_of("openai", "no-such-model", 10, 10, batch=False) is None
        assert book.cost_of("huggingface-tgi", "tgi", 10, 10, batch=False) is None
    finally:
        logger.remove(sink)
    assert sum("openai/no-such-model" in m for m in seen) == 1
    assert sum("huggingface-tgi/tgi" in m for m in seen) == 1
    own = PriceBook({"openai/gpt-4o-mini": Price(1.0, 2.0), "x": Price(1.0, 2.0, 0.1, None)})
    assert own.cost_of("openai", "gpt-4o-mini", 1e6, 1e6, batch=False) == pytest.approx(3.0)
    assert own.cost_of("openai", "gpt-4o-mini", 1e6, 1e6, batch=True) == pytest.approx(1.5)
    assert own.cost_of("anthropic", "x", 1e6, 1e6, batch=True) == pytest.approx(1.1)


def test_outcome_cost_zero_when_cached_batch_price_with_batch_id() -> None:
    book = PriceBook()
    online = (1000 * MINI_IN + 100 * MINI_OUT) / 1e6
    assert book.outcome_cost(_outcome(1000, 100)) == pytest.approx(online)
    assert book.outcome_cost(_outcome(1000, 100, batch_id="b1")) == pytest.approx(online / 2)
    assert book.outcome_cost(_outcome(1000, 100, cached=True)) == 0.0
    failed = Outcome(_record(), "g", 1, error=None)
    assert book.outcome_cost(failed) == 0.0  # nothing answered: nothing billed


def test_budget_reserves_settles_and_stops() -> None:
    budget = Budget(1.0)
    assert budget.reserve(0.4, "generation") and budget.reserve(0.4, "judge:j")
    assert not budget.reserve(0.4, "generation")  # 0.8 held + 0.4 > 1.0
    assert budget.exhausted and not budget.reserve(0.01, "generation")  # sticky
    budget.settle(0.4, 0.1, "generation")
    budget.settle(0.4, None, "judge:j")  # unknown actual: the reservation is counted
    assert budget.spent == {"generation": 0.1, "judge:j": 0.4}
    assert budget.reserved_usd == pytest.approx(0.0)
    assert Budget().reserve(None, "generation")  # no cap: anything goes
    assert not Budget(5.0).reserve(None, "generation")  # a cap and an unknown cost: refused
    assert dollars(0.0123) == "$0.0123" and dollars(None) == "-"


def _overrides(tmp_path: Path, *more: str) -> list[str]:
    return [
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"limits_dir={tmp_path / 'limits'}",
        "max_queries=6000",
        "progress=off",
        *more,
    ]


@pytest.mark.integration
def test_every_line_has_cost_usd_and_totals_reach_run_json_index_report(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    records = [
        *openai_records("gpt-4o-mini", 4),
        {"id": "u", "api": "openai", "model_name": "unpriced-model", "prompt": "hi"},
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    result = run_experiment("exp", _overrides(tmp_path), env=openai_env(llmock_server))
    assert result.exit_code == 0
    log = (result.folder.path / "run.log").read_text()
    lines = read_jsonl(result.folder.completed)
    priced = [x for x in lines if x["model_name"] == "gpt-4o-mini"]
    for line in priced:
        usage = line["usage"]
        want = (usage["input_tokens"] * MINI_IN + usage["output_tokens"] * MINI_OUT) / 1e6
        assert line["cost_usd"] == pytest.approx(want) and want > 0
    (line,) = [x for x in lines if x["model_name"] == "unpriced-model"]
    assert line["cost_usd"] is None
    assert log.count("No known price for openai/unpriced-model") == 1
    total = sum(x["cost_usd"] for x in priced)
    meta = json.loads(result.folder.meta.read_text())
    models = meta["cost"]["models"]
    assert models["openai/gpt-4o-mini"]["cost_usd"] == pytest.approx(total, abs=1e-6)
    assert models["openai/unpriced-model"]["cost_usd"] is None
    assert meta["cost"]["budget"]["lines"]["generation"] == pytest.approx(total, abs=1e-6)
    text = result.summary.format()
    assert "openai/gpt-4o-mini" in text and dollars(total) in text
    assert "(1 without a known price)" in text
    with read_connection(tmp_path / "outputs") as con:
        got = con.execute(
            "SELECT model_name, sum(cost_usd), count(cost_usd) FROM responses GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert got[0][0] == "gpt-4o-mini" and got[0][1] == pytest.approx(total)
        assert got[1] == ("unpriced-model", None, 0)
        run_cost = con.execute("SELECT cost_usd, cost->'models' FROM runs").fetchone()
        assert run_cost is not None and run_cost[0] == pytest.approx(total, abs=1e-6)
    report = (result.folder.path / "report.html").read_text()
    assert "Tokens and cost per model" in report and dollars(total) in report


@pytest.mark.integration
def test_price_override_in_model_yaml_and_run_prices(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "priced.yaml").write_text(
        "api: openai\nmodel_name: house-model\nparameters: {max_tokens: 32}\n"
        "price: {input_per_mtok: 1000, output_per_mtok: 2000}\n"
    )
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", openai_records("any", 2))
    result = run_experiment(
        "exp", _overrides(tmp_path, "model=priced"), env=openai_env(llmock_server), conf_dir=conf
    )
    for line in read_jsonl(result.folder.completed):
        usage = line["usage"]
        want = (usage["input_tokens"] * 1000 + usage["output_tokens"] * 2000) / 1e6
        assert line["cost_usd"] == pytest.approx(want)
    # Prompts naming their own model: the run-level prices setting.
    write_jsonl(tmp_path / "experiments" / "own.jsonl", openai_records("own-model", 2))
    result = run_experiment(
        "own",
        _overrides(tmp_path, "prices={own-model:{input_per_mtok:10,output_per_mtok:20}}"),
        env=openai_env(llmock_server),
    )
    for line in read_jsonl(result.folder.completed):
        usage = line["usage"]
        want = (usage["input_tokens"] * 10 + usage["output_tokens"] * 20) / 1e6
        assert line["cost_usd"] == pytest.approx(want)


@pytest.mark.integration
def test_an_old_index_is_migrated_in_place(tmp_path: Path, llmock_server: servers.Server) -> None:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", openai_records("gpt-4o-mini", 3))
    result = run_experiment("exp", _overrides(tmp_path), env=openai_env(llmock_server))
    outputs = tmp_path / "outputs"
    with write_connection(outputs) as con:  # make it a version-2 index, with an evaluation
        con.execute("ALTER TABLE responses DROP COLUMN cost_usd")
        con.execute("ALTER TABLE responses DROP COLUMN cached")
        con.execute("ALTER TABLE runs DROP COLUMN cost_usd")
        con.execute("ALTER TABLE runs DROP COLUMN cost")
        for table, column in _NEWER_COLUMNS:  # nor had it the later versions' columns
            con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        for column in ("sharded_run", "shard", "shards"):  # version 5's
            con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        con.execute("DROP VIEW sharded_runs")
        con.execute("DROP TABLE labels")  # version 6's
        con.execute("DROP TABLE response_scores")
        con.execute("ALTER TABLE responses DROP COLUMN mean_score")
        con.execute("UPDATE index_meta SET value = '2' WHERE key = 'schema_version'")
        con.execute("INSERT INTO evaluations VALUES ('r', 'p0', 's', 'score', '1', 1, now())")
    report = update_index(outputs)
    assert not report.rebuilt
    total = sum(x["cost_usd"] for x in read_jsonl(result.folder.completed))
    with read_connection(outputs) as con:
        got = con.execute("SELECT sum(cost_usd) FROM responses").fetchone()
        assert got is not None and got[0] == pytest.approx(total)
        run_cost = con.execute("SELECT cost_usd FROM runs").fetchone()
        assert run_cost is not None and math.isclose(run_cost[0], total, abs_tol=1e-6)
        assert con.execute("SELECT count(*) FROM evaluations").fetchone() == (1,)
        version = con.execute("SELECT value FROM index_meta WHERE key='schema_version'")
        assert version.fetchone() == (SCHEMA_VERSION,)
        # Version 5's view of sharded runs came with the migration.
        assert con.execute("SELECT count(*) FROM sharded_runs").fetchone() == (1,)


# Columns added after version 3 (its migration adds them back).
_NEWER_COLUMNS = (
    *(("responses", c) for c in VERSION_4_RESPONSE_COLUMNS),
    *(("runs", c) for c in RUN_TOKEN_COLUMNS),
)


def test_resumed_totals_add_up_and_the_estimate_says_if_it_fits() -> None:
    from runner.cost.estimate import ModelEstimate, format_estimate
    from runner.cost.spending import Spending

    spending = Spending()
    spending.tally.on_outcome(_outcome(1000, 100, cost_usd=0.00021))
    earlier = {"models": {"openai/gpt-4o-mini": {"results": 2, "cost_usd": 1.0, "unpriced": 0}}}
    models = spending.as_dict(earlier)["models"]
    assert models["openai/gpt-4o-mini"]["results"] == 3
    assert models["openai/gpt-4o-mini"]["cost_usd"] == pytest.approx(1.0 + 0.00021)
    assert spending.as_dict("not a dict")["models"]["openai/gpt-4o-mini"]["results"] == 1
    row = ModelEstimate("openai/m", prompts=2, online_usd=0.5, batch_usd=0.25)
    assert "$0.5000 is over max_cost_usd=$0.1000" in "\n".join(format_estimate([row], 0.1))
    assert "fits in" in "\n".join(format_estimate([row], 1.0))
