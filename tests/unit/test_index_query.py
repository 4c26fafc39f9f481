"""Queries on the results index: the Python API, read-only refusal, the CLI and its formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from runner.index import IndexMissingError, QueryError, ReadOnlyQueryError, update_index
from runner.query import query_df, run_responses
from runner.query.__main__ import main


def _record(i: int, run_id: str, experiment: str, **extra: Any) -> dict[str, Any]:
    """One completed.jsonl line (only the fields these tests look at, plus the runner's)."""
    return {
        "id": f"q{i}",
        "prompt": f"question {i}",
        "model_name": "m1",
        "api": "openai",
        "parameters": {"temperature": 0.5},
        **extra,
        "response": f"answer {i}",
        "status": "ok" if i % 2 == 0 else "error",
        "attempts": 1,
        "latency_s": 0.5 + i,
        "timestamp_sent": "2026-11-23T20:11:05.123+00:00",
        "usage": {"input_tokens": 10, "output_tokens": i},
        "run_id": run_id,
        "experiment": experiment,
        "prompt_key": f"q{i}",
        "line": i + 1,
    }


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """An indexed outputs folder: run r1 of exp a (key ``level``), r2 of exp b (``topic``)."""
    for run_id, exp, n, key in (("r1", "a", 4, "level"), ("r2", "b", 3, "topic")):
        folder = tmp_path / exp / run_id
        folder.mkdir(parents=True)
        recs = [_record(i, run_id, exp, **{key: f"{key}{i}"}) for i in range(n)]
        (folder / "completed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        meta = {"run_id": run_id, "experiment": exp, "status": "completed", "version": "0.1.0"}
        (folder / "run.json").write_text(json.dumps(meta))
    update_index(tmp_path)
    return tmp_path


def test_query_df(outputs: Path) -> None:
    """A query comes back as a DataFrame."""
    frame = query_df(
        "SELECT experiment, count(*) AS n FROM responses GROUP BY ALL ORDER BY ALL", outputs
    )
    assert frame.to_dict("records") == [{"experiment": "a", "n": 4}, {"experiment": "b", "n": 3}]


def test_run_responses(outputs: Path) -> None:
    """A run's responses in input order, without other experiments' columns."""
    frame = run_responses("r2", outputs)
    assert list(frame["line"]) == [1, 2, 3]
    assert "topic" in frame.columns and "level" not in frame.columns
    with pytest.raises(QueryError, match="no run with id 'zz'"):
        run_responses("zz", outputs)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM responses",
        "INSERT INTO runs (run_id) VALUES ('x')",
        "DROP TABLE runs",
        "CREATE TABLE t AS SELECT 1",
        "UPDATE responses SET status = 'ok'",
        "COPY responses TO 'x.csv'",
        "ATTACH ':memory:' AS m",
        "SELECT 1; DELETE FROM runs",
    ],
)
def test_writes_are_refused(outputs: Path, statement: str) -> None:
    """Anything that would change the database is refused, and nothing changes."""
    with pytest.raises(ReadOnlyQueryError, match="read-only"):
        query_df(statement, outputs)
    assert query_df("SELECT count(*) AS n FROM responses", outputs)["n"][0] == 7


def test_reading_statements_are_allowed(outputs: Path) -> None:
    """SHOW, DESCRIBE, PRAGMA and friends read, so they run."""
    assert "responses" in set(query_df("SHOW TABLES", outputs)["name"])
    assert "level" in set(query_df("DESCRIBE responses", outputs)["column_name"])
    assert len(query_df("PRAGMA table_info('runs')", outputs)) > 5
    assert query_df("SET TimeZone = 'UTC'; SELECT 1 AS x", outputs)["x"][0] == 1


def test_cli_table_and_limit(outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default output is a readable table that says when rows were left out."""
    code = main(
        [
            "--outputs-dir",
            str(outputs),
            "--limit",
            "2",
            "SELECT run_id, line, status FROM responses ORDER BY run_id, line",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "run_id" in out and "status" in out and "2 rows shown; more rows exist" in out


def test_cli_csv_and_json(outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """CSV and JSON go to stdout; JSON keeps nested values nested."""
    query = "SELECT run_id, line, parameters FROM responses ORDER BY run_id, line"
    assert main(["--outputs-dir", str(outputs), "--format", "csv", query]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 7 and rows[0]["run_id"] == "r1" and rows[0]["line"] == "1"
    assert main(["--outputs-dir", str(outputs), "--format", "json", "--limit", "3", query]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 3 and data[0]["parameters"] == {"temperature": 0.5}


def test_cli_parquet_file(outputs: Path, tmp_path: Path) -> None:
    """--out writes a file in the format its extension names."""
    target = tmp_path / "out.parquet"
    assert (
        main(["--outputs-dir", str(outputs), "--out", str(target), "SELECT * FROM responses"]) == 0
    )
    rows = duckdb.connect().execute(f"SELECT count(*), count(level) FROM '{target}'").fetchall()
    assert rows == [(7, 4)]


def test_cli_user_errors(outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad SQL, refused writes and a missing index exit 2 with one line on stderr."""
    assert main(["--outputs-dir", str(outputs), "SELEC 1"]) == 2
    assert capsys.readouterr().err.startswith("error: Parser Error")
    assert main(["--outputs-dir", str(outputs), "SELECT nope FROM runs"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["--outputs-dir", str(outputs), "DELETE FROM runs"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["--outputs-dir", str(outputs / "nowhere"), "SELECT 1"]) == 2
    assert "python -m runner.index" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--outputs-dir", str(outputs), "--format", "parquet", "SELECT 1"])
    assert exc.value.code == 2


def test_query_leaves_the_index_unlocked(outputs: Path) -> None:
    """After a query, a writer gets the database at once."""
    query_df("SELECT * FROM responses", outputs)
    main(["--outputs-dir", str(outputs), "--format", "csv", "SELECT 1"])
    assert update_index(outputs, wait=0).files_read == 0
    duckdb.connect(str(outputs / "index.duckdb")).close()


def test_missing_index(tmp_path: Path) -> None:
    """Querying before anything was indexed says how to index."""
    with pytest.raises(IndexMissingError, match=r"python -m runner\.index"):
        query_df("SELECT 1", tmp_path)


def test_an_index_whose_first_update_was_cut_off_says_how_to_build_it(tmp_path: Path) -> None:
    """``kill -9`` as the first update began leaves a database with no tables.

    A query said "Catalog Error: Table with name responses does not exist!".
    """
    duckdb.connect(str(tmp_path / "index.duckdb")).close()
    with pytest.raises(IndexMissingError, match=r"has no tables yet.*python -m runner\.index"):
        query_df("SELECT count(*) FROM responses", tmp_path)
    update_index(tmp_path)
    assert query_df("SELECT count(*) AS n FROM responses", tmp_path)["n"].tolist() == [0]
