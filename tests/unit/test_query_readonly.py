"""Issue 10 item 2: queries are read-only for real, whatever the SQL tries.

Two lines of defence, each tested on its own: the statement check refuses (query_df, the CLI),
and the sealed connection (``open_readonly``) fails the same statements when they reach it
directly. Every hostile statement is also checked to leave every file as it was.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from runner.index import QueryError, ReadOnlyQueryError, update_index
from runner.query import open_readonly, query_df
from runner.query.__main__ import main
from tests.unit.test_index_ingest import lines, make_run, record


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """An indexed outputs folder with one run of three lines."""
    out = tmp_path / "outputs"
    out.mkdir()
    make_run(out, "exp", "r1", lines([record(i) for i in range(3)]))
    update_index(out)
    return out


def _hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (and beside it) with a hash of its bytes."""
    return {
        str(p.relative_to(folder.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.parent.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


def _hostile(outputs: Path) -> list[str]:
    """Statements that try to write, read another file, or unseal the connection."""
    index = str(outputs / "index.duckdb")
    completed = str(outputs / "exp" / "r1" / "completed.jsonl")
    stray = str(outputs.parent / "stray.csv")
    return [
        f"COPY responses TO '{stray}'",
        f"COPY (SELECT 1) TO '{index}'",
        f"EXPLAIN ANALYZE COPY (SELECT 'x') TO '{index}'",
        f"EXPLAIN ANALYZE COPY (SELECT 'x') TO '{completed}' (FORMAT csv)",
        f"EXPLAIN (FORMAT json) COPY (SELECT 1) TO '{stray}'",
        f"ATTACH '{outputs.parent / 'other.duckdb'}' AS other",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_json('{completed}')",
        f"SELECT * FROM '{completed}'",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET enable_external_access",
        "INSTALL httpfs",
        "LOAD httpfs",
        f"PRAGMA profiling_output = '{stray}'",
        "PRAGMA enable_profiling",
        f"SET profiling_output = '{stray}'",
        f"SELECT 1; COPY (SELECT 1) TO '{stray}'",
        f"SET TimeZone = 'UTC'; EXPLAIN ANALYZE COPY (SELECT 1) TO '{index}'",
    ]


def test_check_refuses_every_hostile_statement(outputs: Path) -> None:
    """query_df refuses each one with a clear message, and no file changes."""
    before = _hashes(outputs)
    for sql in _hostile(outputs):
        with pytest.raises(ReadOnlyQueryError, match="refused"):
            query_df(sql, outputs)
        assert _hashes(outputs) == before, sql
    assert query_df("SELECT count(*) AS n FROM responses", outputs)["n"][0] == 3


def test_sealed_connection_stops_them_without_the_check(outputs: Path) -> None:
    """Run straight on the connection (no statement check), each one still fails."""
    before = _hashes(outputs)
    for sql in _hostile(outputs):
        with open_readonly(outputs) as con, pytest.raises(duckdb.Error):
            con.execute(sql)
        assert _hashes(outputs) == before, sql
        assert not (outputs.parent / "stray.csv").exists()
    with open_readonly(outputs / "index.duckdb") as con:
        row = con.execute(
            "SELECT value FROM duckdb_settings() WHERE name = $n", {"n": "lock_configuration"}
        ).fetchone()
        assert row == ("true",)


def test_several_statements_return_the_last(outputs: Path) -> None:
    """As the docs say: the last statement's result; session settings are allowed."""
    frame = query_df("SELECT 1 AS a; SELECT 2 AS b", outputs)
    assert list(frame.columns) == ["b"] and frame["b"][0] == 2
    frame = query_df(
        "SET TimeZone = 'Asia/Tokyo'; SELECT current_setting('TimeZone') AS tz", outputs
    )
    assert frame["tz"][0] == "Asia/Tokyo"
    with pytest.raises(ReadOnlyQueryError, match="SET threads is not allowed"):
        query_df("SET threads = 1; SELECT 1", outputs)
    with pytest.raises(QueryError, match="SET TimeZone"):
        query_df("SET TimeZone = 'Nowhere/Nope'; SELECT 1", outputs)


def test_reading_pragmas_and_explain_still_run(outputs: Path) -> None:
    """Describing the database is reading: allowed."""
    assert len(query_df("PRAGMA table_info('responses')", outputs)) > 10
    assert len(query_df("EXPLAIN SELECT * FROM responses", outputs)) >= 1
    assert len(query_df("EXPLAIN ANALYZE SELECT count(*) FROM responses", outputs)) >= 1


def test_exports_still_write_files(outputs: Path, tmp_path: Path) -> None:
    """--out works without DuckDB's COPY on the query's connection, in every format."""
    query = (
        "SELECT line, parameters, [input_tokens, output_tokens] AS usage_tokens "
        "FROM responses ORDER BY line"
    )
    for fmt in ("csv", "json", "parquet"):
        target = tmp_path / f"out.{fmt}"
        assert main(["--outputs-dir", str(outputs), "--out", str(target), query]) == 0
        assert target.stat().st_size > 0
    data = json.loads((tmp_path / "out.json").read_text())
    assert data[0] == {"line": 1, "parameters": {"temperature": 0.5}, "usage_tokens": [10, 20]}
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "line,parameters,usage_tokens"
    rows = duckdb.connect().execute(f"SELECT count(*) FROM '{tmp_path / 'out.parquet'}'").fetchall()
    assert rows == [(3,)]
