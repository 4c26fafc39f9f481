"""What breaks or grows at millions of prompts (bench/scale.py), checked at a small size."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import make_index, make_run
from runner.index.db import read_connection
from runner.report import aggregates
from runner.report import data as report_data
from runner.view import compare, reads
from tests.helpers import read_jsonl


def test_report_latency_quantiles_are_estimated_in_fixed_memory_for_big_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact quantiles ran out of the report's 64 MB at 1,000,000 results: above a size,
    approx_quantile (t-digest) gives them in fixed memory, close to the exact ones."""
    folder = tmp_path / "bench" / "20260101-000000-big"
    make_run(folder, 4000)
    exact = report_data.load_run(folder).latency.records()
    monkeypatch.setattr(aggregates, "EXACT_QUANTILES", 100)
    estimated = report_data.load_run(folder).latency.records()
    assert len(exact) == len(estimated) > 0
    latencies = sorted(
        line["latency_s"] for line in read_jsonl(folder / "completed.jsonl") if line["latency_s"]
    )
    spread = latencies[-1] - latencies[0]
    for want, got in zip(exact, estimated, strict=True):
        assert want["n"] == got["n"]
        for q in ("p50", "p90", "p99"):
            assert abs(want[q] - got[q]) <= 0.02 * spread, (q, want[q], got[q])


def test_viewer_reads_the_index_in_bounded_memory(tmp_path: Path) -> None:
    """The viewer's matrix page at 1,000,000 responses took 376 MB with DuckDB's default limit."""
    make_index(tmp_path, 1000)
    with reads.read(tmp_path) as con:
        row = con.execute("SELECT current_setting('memory_limit'), current_setting('threads')")
        limit, threads = row.fetchall()[0]
    assert limit.replace(" ", "").upper().startswith(("128", "122")), limit
    assert threads == 1
    # Other readers keep DuckDB's default.
    with read_connection(tmp_path) as con:
        default = con.execute("SELECT current_setting('memory_limit')").fetchall()
    assert default[0][0] != limit
    cols = compare.columns(tmp_path, "big")
    assert sorted({c.model for c in cols}) == ["model-a", "model-b"]
    assert compare.compare(tmp_path, "big", cols).total == 500
