"""The run report: the engine's timeline, report.html after every run, ``python -m runner.report``.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_report.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.engine.timeline import Timeline, attempt_kind
from runner.errors import ErrorKind, ProviderError


def test_timeline_counts_per_interval_and_stays_bounded() -> None:
    timeline = Timeline(bucket_s=10.0, max_buckets=50)
    timeline.limits("g", 60.0, 1000.0)
    for second in range(3600):  # an hour, one request a second: 360 intervals of 10 s
        timeline.sent("g", float(second))
        kind = "429" if second % 100 == 0 else "ok"
        timeline.finished("g", second + 0.5, kind, 10.0 if kind == "ok" else None)
    timeline.gate("g", 1800.0, slowdowns=1, paused_until=1805.0)
    data = timeline.as_dict()
    rows = data["groups"]["g"]["buckets"]
    assert len(rows) <= 50
    assert data["bucket_s"] == 80.0  # doubled three times: 360 -> 180 -> 90 -> 45 intervals
    assert sum(r["sent"] for r in rows) == 3600
    assert sum(r.get("429", 0) for r in rows) == 36
    assert sum(r["ok"] for r in rows) == 3564
    assert sum(r.get("tokens", 0) for r in rows) == 35640
    assert sum(r.get("slowdowns", 0) for r in rows) == 1
    assert sum(r.get("paused_s", 0) for r in rows) == 5.0
    assert max(r["in_flight"] for r in rows) == 1
    assert data["groups"]["g"]["rate_per_minute"] == 60.0


def test_requests_on_the_wire_count_in_quiet_intervals() -> None:
    from runner.report.charts import timeline_frame

    timeline = Timeline(bucket_s=2.0)
    timeline.sent("g", 0.0)
    timeline.finished("g", 250.0, "ok")  # one slow answer: nothing happens in between
    frame = timeline_frame(timeline.as_dict(), "g")
    assert len(frame) == 5  # a bin a minute from 0 to 240 s, the quiet ones too
    assert list(frame["in_flight"]) == [1] * 5
    assert list(frame["sent"]) == [1] + [0] * 4


@pytest.mark.parametrize("limit", [10.0, 60.0, 600.0])
def test_a_paced_run_never_appears_above_its_limit(limit: float) -> None:
    """10/min paced in 2 s intervals once read 30/min against a 10/min line."""
    from runner.report.charts import bin_width, health_chart, limit_per_bin, timeline_frame

    timeline = Timeline(bucket_s=2.0)
    timeline.limits("g", limit, None)
    burst = max(1, int(limit / 60))
    sent = [0.0] * burst + [i * 60.0 / limit for i in range(1, int(limit * 5))]
    for t in sent:  # a burst at once, then exactly at the limit for five minutes
        timeline.sent("g", t)
        timeline.finished("g", t + 0.1, "ok")
    frame = timeline_frame(timeline.as_dict(), "g")
    line = limit_per_bin(limit, bin_width(2.0))
    assert max(frame["sent_per_min"]) <= line + 1e-9
    spec = health_chart(timeline.as_dict(), "g")
    rule = spec["vconcat"][0]["layer"][1]
    assert rule["data"]["values"][0]["limit"] == line
    assert "requests per minute" in spec["vconcat"][0]["title"]
    # No panel of failed attempts when nothing failed; the colours named in titles exist.
    assert len(spec["vconcat"]) == 2
    assert "orange" not in json.dumps(spec)


def test_attempt_kinds() -> None:
    assert attempt_kind(None) == "ok"
    assert attempt_kind(ProviderError("x", ErrorKind.RETRYABLE, 429)) == "429"
    assert attempt_kind(ProviderError("x", ErrorKind.RETRYABLE, 503)) == "5xx"
    assert attempt_kind(ProviderError("x", ErrorKind.FATAL, 400)) == "4xx"
    timeout = ProviderError("timed out after 1 s (timeout_s)", ErrorKind.RETRYABLE)
    assert attempt_kind(timeout) == "timeout"


def test_report_size_does_not_grow_with_the_number_of_prompts(tmp_path: Path) -> None:
    from bench.report import make_run
    from runner.report import report_run

    sizes = {}
    for n in (1_000, 20_000):
        folder = tmp_path / "bench" / f"20260101-000000-{n:06d}"
        make_run(folder, n)
        sizes[n] = report_run(folder).stat().st_size
    assert sizes[20_000] < 1.1 * sizes[1_000] and sizes[20_000] < 1_500_000, sizes


def test_the_summary_explains_a_dash_in_achieved_per_minute() -> None:
    from runner.output.stats import GroupStats
    from runner.output.summary import Summary

    group = GroupStats("g", 600.0, total=1, ok=1, requests=1)
    summary = Summary("r", "e", 1, 1, 0, 0, 1.0, {"g": group})
    assert "'-': too few requests to measure a rate" in summary.format()


def test_a_group_with_no_limit_has_no_limit_line_and_reads_none(tmp_path: Path) -> None:
    """max_queries=1e9: the report drew a line at 1e9/min, every rate flat along zero."""
    from bench.report import make_run
    from runner.report import report_run
    from runner.report.charts import health_chart

    timeline = Timeline(bucket_s=2.0)
    timeline.limits("g", 1e9, None)
    for i in range(100):
        timeline.sent("g", i * 0.05)
        timeline.finished("g", i * 0.05 + 0.01, "ok")
    rates = health_chart(timeline.as_dict(), "g")["vconcat"][0]
    assert [layer["mark"]["type"] for layer in rates["layer"]] == ["line"]  # no rule
    folder = tmp_path / "outputs" / "bench" / "r1"
    make_run(folder, 100)
    meta = json.loads((folder / "run.json").read_text())
    meta["groups"]["openai"]["limit_per_minute"] = 1e9
    (folder / "run.json").write_text(json.dumps(meta))
    html = report_run(folder).read_text()
    assert '<td class="num">none</td>' in html and "1,000,000,000" not in html


def test_the_live_view_reads_none_for_a_limit_that_never_binds(tmp_path: Path) -> None:
    from runner.view.live import live_state

    run_dir = tmp_path / "outputs" / "e" / "r"
    run_dir.mkdir(parents=True)
    groups = {"all": {"total": 2, "limit_per_minute": 1e9}, "g": {"limit_per_minute": 60.0}}
    meta = {"run_id": "r", "experiment": "e", "status": "running", "planned": {"groups": groups}}
    (run_dir / "run.json").write_text(json.dumps(meta))
    lines = [{"rate_group": "all", "status": "ok"}, {"rate_group": "g", "status": "ok"}]
    (run_dir / "completed.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    shown = {g["name"]: g["limit_per_minute"] for g in live_state(run_dir)["groups"]}
    assert shown == {"all": "none", "g": 60.0}
