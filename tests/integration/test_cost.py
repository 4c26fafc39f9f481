"""Cost per result (issue 15 item 2): prices, cost_usd on every line, totals, the index."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from runner import run_experiment
from runner.config.setup import CONF_DIR
from runner.index import read_connection, update_index
from runner.index.db import write_connection
from runner.index.schema import RUN_TOKEN_COLUMNS, SCHEMA_VERSION, VERSION_4_RESPONSE_COLUMNS
from runner.output.money import dollars
from tests import servers
from tests.helpers import read_jsonl, write_jsonl
from tests.providers_support import openai_env, openai_records
from tests.unit.test_cost import MINI_IN as MINI_IN
from tests.unit.test_cost import MINI_OUT as MINI_OUT


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
