"""The results index: incremental updates, schema drift, torn and bad lines, locking."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from runner.index import IndexBusyError, IndexMissingError, update_index, write_connection
from runner.index.lock import index_lock


def record(i: int, run_id: str = "r1", experiment: str = "exp", **extra: Any) -> dict[str, Any]:
    """One line of completed.jsonl as the runner writes it."""
    return {
        "id": f"q{i}",
        "prompt": f"question {i}",
        "api": "openai",
        "model_name": "m1",
        "parameters": {"temperature": 0.5},
        "group": "g",
        "expected_response": "yes",
        **extra,
        "response": f"answer {i}",
        "status": "ok",
        "error": None,
        "error_kind": None,
        "attempts": 1,
        "timestamp_sent": "2026-11-23T20:11:05.123+00:00",
        "timestamp_received": "2026-11-23T20:11:06.000+00:00",
        "latency_s": 0.877,
        "usage": {"input_tokens": 10, "output_tokens": 20 + i},
        "finish_reason": "stop",
        "response_model": "m1-2026",
        "run_id": run_id,
        "experiment": experiment,
        "rate_group": "openai",
        "prompt_key": f"q{i}",
        "line": i + 1,
    }


def lines(records: list[dict[str, Any]]) -> str:
    """JSONL text of ``records``."""
    return "".join(json.dumps(r) + "\n" for r in records)


def make_run(
    outputs: Path,
    experiment: str,
    run_id: str,
    text: str,
    status: str = "completed",
) -> Path:
    """Write a run folder with ``text`` as its completed.jsonl; returns that file."""
    folder = outputs / experiment / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "completed.jsonl").write_text(text, encoding="utf-8")
    write_meta(folder, status)
    return folder / "completed.jsonl"


def write_meta(folder: Path, status: str) -> None:
    """Write run.json with ``status``."""
    meta = {
        "run_id": folder.name,
        "experiment": folder.parent.name,
        "input_file": "in.jsonl",
        "models": [{"api": "openai", "model_name": "m1"}, {"api": "local", "model_name": "g"}],
        "started_at": "2026-11-23T20:00:00+00:00",
        "finished_at": None if status == "running" else "2026-11-23T20:05:00+00:00",
        "status": status,
        "counts": {"ok": 3, "error": 1},
        "total": 4,
        "wall_time_s": 300.5,
        "groups": {"openai": {"max_queries": 60}},
        "config": {"model": {"model_name": "m1"}},
        "overrides": ["model=m1"],
        "version": "0.1.0",
    }
    (folder / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def sql(outputs: Path, query: str) -> list[tuple[Any, ...]]:
    """Rows of a query on the index (read-only, closed afterwards)."""
    con = duckdb.connect(str(outputs / "index.duckdb"), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_indexes_responses_and_runs(tmp_path: Path) -> None:
    """Every line becomes a row with typed columns; run.json becomes a runs row."""
    make_run(tmp_path, "exp", "r1", lines([record(i) for i in range(3)]))
    report = update_index(tmp_path)
    assert (report.rows_added, report.files_read, report.runs_updated) == (3, 1, 1)
    row = sql(
        tmp_path,
        "SELECT run_id, experiment, prompt_key, line, status, attempts, latency_s, "
        "input_tokens, output_tokens, parameters->>'temperature', "
        "strftime(timestamp_sent, '%Y-%m-%d %H:%M:%S.%g'), record->>'response', source_file "
        "FROM responses WHERE line = 2",
    )
    assert row == [
        (
            "r1",
            "exp",
            "q1",
            2,
            "ok",
            1,
            0.877,
            10,
            21,
            "0.5",
            "2026-11-23 20:11:05.123",
            "answer 1",
            "exp/r1/completed.jsonl",
        ),
    ]
    runs = sql(
        tmp_path,
        "SELECT run_id, experiment, status, n_ok, n_error, total, model_names, apis, "
        "config->'model'->>'model_name', overrides->>0, version FROM runs",
    )
    assert runs == [
        (
            "r1",
            "exp",
            "completed",
            3,
            1,
            4,
            ["m1", "g"],
            ["openai", "local"],
            "m1",
            "model=m1",
            "0.1.0",
        ),
    ]


def test_incremental_reads_only_new_complete_lines(tmp_path: Path) -> None:
    """Appended lines are added once; a line still being written waits for its newline."""
    path = make_run(tmp_path, "exp", "r1", lines([record(0), record(1)]), status="running")
    assert update_index(tmp_path).rows_added == 2
    assert update_index(tmp_path).files_read == 0  # nothing changed: nothing read

    torn = json.dumps(record(3))
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record(2)) + "\n" + torn[:25])
    report = update_index(tmp_path)
    assert (report.rows_added, report.skipped) == (1, [])
    with open(path, "a", encoding="utf-8") as f:
        f.write(torn[25:] + "\n")
    assert update_index(tmp_path).rows_added == 1
    assert sql(tmp_path, "SELECT count(*), count(DISTINCT line) FROM responses") == [(4, 4)]


def test_torn_and_invalid_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    """Bad lines cost only themselves: reported by file and line, the rest is indexed."""
    text = (
        lines([record(0)])
        + '{"id": "broken", "prompt": \n'
        + "[1, 2]\n"
        + lines([record(3)])
        + "\n"
        + '{"ok": "\ufffd"}\n'
    )
    path = make_run(tmp_path, "exp", "r1", text, status="running")
    with open(path, "ab") as f:
        f.write(b'{"id": "\xff\xfe"}\n')  # not UTF-8
    report = update_index(tmp_path)
    assert report.rows_added == 3
    found = {(s.file, s.line) for s in report.skipped}
    assert found == {
        ("exp/r1/completed.jsonl", 2),
        ("exp/r1/completed.jsonl", 3),
        ("exp/r1/completed.jsonl", 7),
    }
    reasons = {s.line: s.reason for s in report.skipped}
    assert "JSON" in reasons[2] and "not a JSON object" in reasons[3] and "UTF-8" in reasons[7]
    assert sql(tmp_path, "SELECT file, line FROM skipped_lines ORDER BY line") == sorted(found)

    # A bad line in a later append is numbered from the start of the file.
    with open(path, "a", encoding="utf-8") as f:
        f.write(lines([record(8)]) + "not json\n")
    report = update_index(tmp_path)
    assert report.rows_added == 1
    assert [(s.line, s.file) for s in report.skipped] == [(9, "exp/r1/completed.jsonl")]
    assert update_index(tmp_path).skipped == []  # reported once, not on every update


def test_torn_last_line_of_finished_run_is_reported_once(tmp_path: Path) -> None:
    """After a crash the partial line is never finished: report it, then move past it."""
    full = lines([record(0)])
    path = make_run(tmp_path, "exp", "r1", full + json.dumps(record(1))[:30], status="running")
    assert update_index(tmp_path).skipped == []  # still running: maybe still being written
    write_meta(path.parent, "failed")
    report = update_index(tmp_path)
    assert [(s.line, "torn" in s.reason) for s in report.skipped] == [(2, True)]
    assert update_index(tmp_path).skipped == []
    # A finished run whose last line only lacks its newline loses nothing.
    make_run(tmp_path, "exp", "r2", lines([record(0, "r2")]) + json.dumps(record(1, "r2")))
    assert update_index(tmp_path).rows_added == 2


def test_schema_drift_across_experiments(tmp_path: Path) -> None:
    """User keys become columns by name, widened when experiments disagree on a type."""
    make_run(
        tmp_path,
        "a",
        "r1",
        lines([record(i, "r1", "a", difficulty=i, lang="en") for i in range(2)]),
    )
    update_index(tmp_path)
    drift = {"difficulty": "hard", "score": 0.5, "tags": ["x"], "Status": "dup", "note": None}
    make_run(tmp_path, "b", "r2", lines([record(0, "r2", "b", **drift)]))
    make_run(tmp_path, "c", "r3", lines([record(0, "r3", "c", score=2)]))
    update_index(tmp_path)
    types = dict(
        sql(
            tmp_path,
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'responses'",
        )
    )
    assert types["difficulty"] == "VARCHAR" and types["score"] == "DOUBLE"
    assert types["tags"] == "JSON" and types["lang"] == "VARCHAR"
    assert "Status" not in types and "note" not in types  # a case clash; only nulls
    rows = sql(
        tmp_path,
        "SELECT experiment, difficulty, lang, score, record->>'Status' FROM responses "
        "ORDER BY experiment, line",
    )
    assert rows == [
        ("a", "0", "en", None, None),
        ("a", "1", "en", None, None),
        ("b", "hard", None, 0.5, "dup"),
        ("c", None, None, 2.0, None),
    ]


def test_multi_turn_and_chat_prompts_are_text(tmp_path: Path) -> None:
    """Strings are stored as is; lists (turns, chat messages) as JSON text."""
    chat = [{"role": "user", "content": "hi"}]
    rec = record(0) | {"prompt": chat, "response": ["a", "b"], "usage": None, "latency_s": None}
    make_run(tmp_path, "exp", "r1", lines([rec]))
    update_index(tmp_path)
    row = sql(tmp_path, "SELECT prompt, response, input_tokens, latency_s FROM responses")[0]
    assert json.loads(row[0]) == chat and json.loads(row[1]) == ["a", "b"]
    assert row[2:] == (None, None)


def test_rewritten_and_removed_files(tmp_path: Path) -> None:
    """A file replaced by a shorter one is re-read; a deleted run leaves the index."""
    path = make_run(tmp_path, "exp", "r1", lines([record(i) for i in range(5)]))
    make_run(tmp_path, "exp", "r2", lines([record(0, "r2")]))
    update_index(tmp_path)
    path.write_text(lines([record(9)]), encoding="utf-8")
    update_index(tmp_path)
    assert sql(tmp_path, "SELECT run_id, line FROM responses ORDER BY ALL") == [
        ("r1", 10),
        ("r2", 1),
    ]
    for name in ("completed.jsonl", "run.json"):
        (tmp_path / "exp" / "r2" / name).unlink()
    report = update_index(tmp_path)
    assert report.files_removed == 2
    assert sql(
        tmp_path, "SELECT DISTINCT run_id FROM responses UNION ALL SELECT run_id FROM runs"
    ) == [("r1",), ("r1",)]


def test_sweeps_and_dot_folders_are_ignored(tmp_path: Path) -> None:
    """Only ``<experiment>/<run_id>/`` folders are runs."""
    make_run(tmp_path, ".sweeps", "s1", lines([record(0)]))
    make_run(tmp_path, "exp", ".hidden", lines([record(0)]))
    assert update_index(tmp_path).rows_added == 0


def test_rebuild_keeps_evaluations(tmp_path: Path) -> None:
    """--rebuild re-reads the JSONL but keeps rows other code added to evaluations."""
    make_run(tmp_path, "exp", "r1", lines([record(0)]))
    update_index(tmp_path)
    with write_connection(tmp_path) as con:
        con.execute(
            "INSERT INTO evaluations VALUES ('r1', 'q0', 'exact', 'match', 'true', 1, now())"
        )
    report = update_index(tmp_path, rebuild=True)
    assert report.rebuilt and report.rows_added == 1
    assert sql(tmp_path, "SELECT count(*) FROM evaluations") == [(1,)]


def test_rebuild_replaces_an_unreadable_database(tmp_path: Path) -> None:
    """A corrupt index file is not fatal: --rebuild starts over from the JSONL."""
    make_run(tmp_path, "exp", "r1", lines([record(0)]))
    (tmp_path / "index.duckdb").write_bytes(b"not a database" * 100)
    with pytest.raises(Exception, match="--rebuild"):
        update_index(tmp_path)
    assert update_index(tmp_path, rebuild=True).rows_added == 1


def test_rebuild_removes_what_killed_rebuilds_left(tmp_path: Path) -> None:
    """A rebuild killed with ``kill -9`` left ``index.duckdb.rebuild-<pid>.tmp``, a whole
    index, for good: each killed rebuild added one. The next rebuild removes them."""
    make_run(tmp_path, "exp", "r1", lines([record(0)]))
    update_index(tmp_path)
    # Two pids above any pid_max (processes that are gone), and one alive (a rebuild that
    # may be waiting to swap its file in: kept).
    live = f"index.duckdb.rebuild-{os.getppid()}.tmp"
    for name in ("index.duckdb.rebuild-99999991.tmp", "index.duckdb.rebuild-99999993.tmp", live):
        (tmp_path / name).write_bytes(b"x" * 1000)
        (tmp_path / f"{name}.wal").write_bytes(b"x")
    assert update_index(tmp_path, rebuild=True).rows_added == 1
    assert sorted(p.name for p in tmp_path.glob("index.duckdb*")) == sorted(
        ["index.duckdb", "index.duckdb.lock", live, f"{live}.wal"]
    )


def test_busy_index_says_so(tmp_path: Path) -> None:
    """A second writer waits, then gives up with a clear message."""
    make_run(tmp_path, "exp", "r1", lines([record(0)]))
    with (
        index_lock(tmp_path / "index.duckdb", exclusive=True, timeout=0),
        pytest.raises(IndexBusyError, match="index is busy"),
    ):
        update_index(tmp_path, wait=0.2)
    assert update_index(tmp_path).rows_added == 1


def test_missing_outputs_folder(tmp_path: Path) -> None:
    """A wrong --outputs-dir is a clear error, not a new empty index."""
    with pytest.raises(IndexMissingError, match="no outputs folder"):
        update_index(tmp_path / "nope")


def test_many_large_run_json_files_are_all_indexed_across_insert_chunks(tmp_path: Path) -> None:
    # 40 run.json files of ~100 kB (4 MB): the runs are inserted a MB of text at a time (one
    # INSERT of 3,007 real ones, 14 MB, went over the writer's memory cap and fell back to a
    # transaction per run: 92 s for 10,000 runs, bench/index_runs.py). Every row must arrive.
    outputs = tmp_path / "outputs"
    for n in range(40):
        folder = outputs / f"exp{n % 3}" / f"r{n:02d}"
        folder.mkdir(parents=True)
        (folder / "completed.jsonl").write_text(lines([record(0, f"r{n:02d}")]))
        meta = {"run_id": f"r{n:02d}", "status": "completed", "total": n, "pad": "x" * 100_000}
        (folder / "run.json").write_text(json.dumps(meta))
    report = update_index(outputs)
    assert (report.runs_updated, report.rows_added, report.skipped) == (40, 40, [])
    with duckdb.connect(str(outputs / "index.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT run_id, total FROM runs ORDER BY run_id").fetchall()
    assert rows == [(f"r{n:02d}", n) for n in range(40)]
