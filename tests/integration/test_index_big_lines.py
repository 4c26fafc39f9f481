"""Issue 10 item 7: the index never drops good rows, and ``--rebuild`` swaps atomically.

A line longer than DuckDB's default 16 MB object size (a 20 MB prompt, a 50 MB response) used
to make the index skip its whole file, even after --rebuild. A rebuild used to empty the
database before refilling it; now queries see the old index until the new one is complete.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from runner.index import update_index, write_connection
from runner.index.ingest import IngestResult, ingest
from runner.index.scan import Slice
from runner.query import query_df
from tests.unit.test_index_ingest import lines, make_run, record

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def _big_records() -> list[dict[str, object]]:
    """Four lines: two small, a 20 MB prompt and a 50 MB response."""
    recs = [record(i) for i in range(4)]
    recs[1]["prompt"] = "p" * (20 * MB)
    recs[3]["response"] = "r" * (50 * MB)
    return recs


def _lengths(outputs: Path) -> list[tuple[int, ...]]:
    """(line, prompt length, response length) of run r1's rows."""
    frame = query_df(
        "SELECT line, length(prompt), length(response) FROM responses "
        "WHERE run_id = 'r1' ORDER BY line",
        outputs,
    )
    return [tuple(int(v) for v in row) for row in frame.itertuples(index=False)]


EXPECTED = [(1, 10, 8), (2, 20 * MB, 8), (3, 10, 8), (4, 10, 50 * MB)]


def test_lines_over_16_mb_are_indexed(tmp_path: Path) -> None:
    """A finished run with huge lines: every line indexed, nothing skipped, also on rebuild."""
    make_run(tmp_path, "exp", "r1", lines(_big_records()))
    make_run(tmp_path, "exp", "r2", lines([record(i, run_id="r2") for i in range(2)]))
    report = update_index(tmp_path)
    assert report.skipped == [] and report.rows_added == 6
    assert _lengths(tmp_path) == EXPECTED
    report = update_index(tmp_path, rebuild=True)
    assert report.skipped == [] and report.rows_added == 6
    frame = query_df("SELECT run_id, count(*) AS n FROM responses GROUP BY 1 ORDER BY 1", tmp_path)
    assert frame.to_dict("records") == [{"run_id": "r1", "n": 4}, {"run_id": "r2", "n": 2}]


def test_big_lines_of_a_running_run(tmp_path: Path) -> None:
    """A run still writing is read in ranges (copied bytes): huge lines there too."""
    recs = _big_records()
    make_run(tmp_path, "exp", "r1", lines(recs[:2]), status="running")
    assert update_index(tmp_path).rows_added == 2
    with open(tmp_path / "exp" / "r1" / "completed.jsonl", "a") as f:
        f.write(lines(recs[2:]))
    report = update_index(tmp_path)
    assert report.skipped == [] and report.rows_added == 2
    assert _lengths(tmp_path) == EXPECTED


def test_a_bad_big_line_skips_only_itself(tmp_path: Path) -> None:
    """A torn 20 MB line is reported alone; its neighbours are indexed."""
    text = lines([record(0)]) + '{"id": "x", "prompt": "' + "p" * (20 * MB) + "\n"
    text += lines([record(2)])
    make_run(tmp_path, "exp", "r1", text)
    report = update_index(tmp_path)
    assert report.rows_added == 2
    assert [(s.line, "torn" in s.reason or "invalid" in s.reason) for s in report.skipped] == [
        (2, True)
    ]


def _seed(outputs: Path) -> None:
    """An indexed run of 3 lines, an evaluation row and a view, then a new run not yet indexed."""
    make_run(outputs, "exp", "r1", lines([record(i) for i in range(3)]))
    update_index(outputs)
    with write_connection(outputs) as con:
        con.execute("INSERT INTO evaluations VALUES ('r1', 'q0', 'judge', 'score', '1', 1, now())")
        con.execute("CREATE VIEW scores AS SELECT run_id, value_num FROM evaluations")
    make_run(outputs, "exp", "r2", lines([record(i, run_id="r2") for i in range(5)]))


def test_queries_see_the_old_index_during_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mid-rebuild, this process and another see the old rows; after it, the new ones."""
    _seed(tmp_path)
    seen: list[object] = []

    def ingest_and_look(
        con: duckdb.DuckDBPyConnection, slices: list[Slice], tmp: Path
    ) -> IngestResult:
        assert (tmp_path / "index.duckdb").is_file()
        seen.append(query_df("SELECT count(*) AS n FROM responses", tmp_path, wait=0)["n"][0])
        proc = subprocess.run(
            [sys.executable, "-m", "runner.query", "--outputs-dir", str(tmp_path), "--wait", "0",
             "--format", "csv", "SELECT count(*) AS n FROM responses"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        seen.append(proc.stdout.split())
        result = ingest(con, slices, tmp)
        seen.append(query_df("SELECT count(*) AS n FROM responses", tmp_path, wait=0)["n"][0])
        return result

    monkeypatch.setattr("runner.index.update.ingest", ingest_and_look)
    report = update_index(tmp_path, rebuild=True)
    assert report.rebuilt and report.rows_added == 8
    assert seen == [3, ["n", "3"], 3]
    assert query_df("SELECT count(*) AS n FROM responses", tmp_path)["n"][0] == 8
    # What the indexer does not own survives the swap.
    frame = query_df("SELECT run_id, value_num FROM scores", tmp_path)
    assert frame.to_dict("records") == [{"run_id": "r1", "value_num": 1.0}]
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("index.duckdb"))
    assert leftovers == ["index.duckdb", "index.duckdb.lock"]


def test_a_failed_rebuild_leaves_the_old_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild that breaks off changes nothing and leaves no temp file behind."""
    _seed(tmp_path)

    def broken(con: duckdb.DuckDBPyConnection, slices: list[Slice], tmp: Path) -> IngestResult:
        raise OSError("disk on fire")

    monkeypatch.setattr("runner.index.update.ingest", broken)
    with pytest.raises(OSError, match="disk on fire"):
        update_index(tmp_path, rebuild=True)
    assert query_df("SELECT count(*) AS n FROM responses", tmp_path)["n"][0] == 3
    assert len(query_df("SELECT * FROM evaluations", tmp_path)) == 1
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("index.duckdb"))
    assert leftovers == ["index.duckdb", "index.duckdb.lock"]


def test_rebuild_replaces_an_unreadable_index(tmp_path: Path) -> None:
    """A damaged file is replaced by a good one (its evaluations cannot be saved)."""
    make_run(tmp_path, "exp", "r1", lines([record(i) for i in range(2)]))
    (tmp_path / "index.duckdb").write_bytes(b"not a database" * 100)
    assert update_index(tmp_path, rebuild=True).rows_added == 2
    assert query_df("SELECT count(*) AS n FROM responses", tmp_path)["n"][0] == 2


def test_a_200_mb_line_is_skipped_alone_and_the_index_goes_on(tmp_path: Path) -> None:
    """Issue 23 item 11: a 200 MB prompt invalidated the database for every later update.

    Its line is skipped with a warning naming file and line; its neighbours, a later run
    and ``--rebuild`` are indexed.
    """
    recs = [record(i) for i in range(3)]
    recs[1]["prompt"] = "p" * (200 * MB)
    make_run(tmp_path, "exp", "r1", lines(recs))
    report = update_index(tmp_path)
    assert report.rows_added == 2
    assert [(s.file, s.line) for s in report.skipped] == [("exp/r1/completed.jsonl", 2)]
    assert "longer than the index takes" in report.skipped[0].reason
    make_run(tmp_path, "exp", "r2", lines([record(i, run_id="r2") for i in range(2)]))
    assert update_index(tmp_path).rows_added == 2
    report = update_index(tmp_path, rebuild=True)
    assert report.rows_added == 4 and [s.line for s in report.skipped] == [2]
    frame = query_df("SELECT run_id, count(*) AS n FROM responses GROUP BY 1 ORDER BY 1", tmp_path)
    assert frame.to_dict("records") == [{"run_id": "r1", "n": 2}, {"run_id": "r2", "n": 2}]


def test_several_63_mb_lines_then_a_small_run_and_a_rebuild(tmp_path: Path) -> None:
    """Lines under the limit but together over the writer's memory cap: all indexed.

    The commit after them, and the final checkpoint, pinned them under the cap and failed.
    """
    recs = [record(i) for i in range(4)]
    for i in (0, 1, 3):
        recs[i]["prompt"] = "p" * (63 * MB)
    make_run(tmp_path, "exp", "r1", lines(recs))
    assert update_index(tmp_path).rows_added == 4
    make_run(tmp_path, "exp", "r2", lines([record(i, run_id="r2") for i in range(2)]))
    assert update_index(tmp_path).rows_added == 2
    report = update_index(tmp_path, rebuild=True)
    assert report.skipped == [] and report.rows_added == 6
