"""A sweep's report compares runs by the settings that differ; it never adds runs together."""

from __future__ import annotations

from pathlib import Path

from runner.report.charts import comparison_chart
from runner.report.compare import comparison_table
from runner.report.data import RunData, readable
from runner.report.table import Table


def _run(run_id: str, temperature: float, p50: float) -> RunData:
    model = "gpt-4o-mini"
    return RunData(
        run_dir=Path(run_id),
        meta={
            "run_id": run_id,
            "config": {
                "run_id": run_id,
                "model": {"model_name": model, "parameters": {"temperature": temperature}},
            },
        },
        status=Table(["model", "status", "n"], [(model, "ok", 10)]),
        latency=Table(
            ["rate_group", "model", "n", "p50", "p90", "p99", "mean"],
            [("g", model, 10, p50, p50, p50, p50)],
        ),
        latency_hist=Table(),
        attempts=Table(),
        errors=Table(),
        tokens=Table(
            ["model", "input_tokens", "output_tokens", "cost_usd", "unpriced"],
            [(model, 1, 2, 0.5, 0)],
        ),
    )


def test_runs_of_one_model_stay_apart_labelled_by_what_differs() -> None:
    runs = [_run("r1", 0.0, 1.5), _run("r2", 0.7, 1.0), _run("r3", 1.0, 1.1)]
    table = comparison_table(runs)
    rows = table.records()
    assert len(rows) == 3
    assert [r["ok_rate"] for r in rows] == [1.0, 1.0, 1.0]  # never 3 (summed)
    assert [r["p50_latency_s"] for r in sorted(rows, key=lambda r: str(r["run_id"]))] == [
        1.5,
        1.0,
        1.1,
    ]
    assert {r["settings"] for r in rows} == {
        "model.parameters.temperature=0.0",
        "model.parameters.temperature=0.7",
        "model.parameters.temperature=1.0",
    }
    assert len({r["run"] for r in rows}) == 3  # one bar each in the chart
    spec = comparison_chart(table)
    assert spec["encoding"]["x"]["field"] == "run"
    assert "lo" not in {v["metric"] for v in spec["data"]["values"]}


def test_answers_read_as_text_not_json() -> None:
    assert readable('"plain"') == "plain"
    assert readable('["one", "two"]') == "one\n\ntwo"
    chat = '[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]'
    assert readable(chat) == "system: be brief\n\nuser: hi"


def test_no_empty_tokens_chart_when_nothing_was_counted() -> None:
    from runner.report.render import render_html

    run = _run("r1", 0.0, 1.0)
    run.tokens = Table(
        ["model", "input_tokens", "output_tokens", "cost_usd", "unpriced"],
        [("gpt-4o-mini", 0, 0, None, 0)],
    )
    run.attempts = Table(["model", "attempts", "n"], [("gpt-4o-mini", 1, 10)])
    html = render_html([run], "t")
    assert "chart-0-tokens" not in html and "chart-0-attempts" in html
