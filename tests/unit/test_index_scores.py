"""Each response's mean score (``response_scores``, ``responses.mean_score``), averaged when
evaluations are written, so the Find page filters and sorts by a column."""

from __future__ import annotations

import json
from pathlib import Path

from runner.index.db import read_connection, write_connection
from runner.index.schema import ensure_schema
from runner.index.scores import refresh_scores
from runner.view import queries


def _index(outputs: Path) -> None:
    with write_connection(outputs) as con:
        ensure_schema(con)
        con.execute(
            "INSERT INTO responses (run_id, experiment, prompt_key, line, status, record) "
            "SELECT 'r' || (i % 2), 'e', 'p' || i, i, 'ok', '{}' FROM range(6) t(i)"
        )
        con.execute(
            "INSERT INTO evaluations SELECT 'r' || (i % 2), 'p' || i, s, 'score', NULL, "
            "(i + (s = 'b')::INT) / 10, now() FROM range(5) t(i), (VALUES ('a'), ('b')) v(s)"
        )
        refresh_scores(con)


def test_the_find_page_sorts_and_filters_by_the_stored_mean(tmp_path: Path) -> None:
    _index(tmp_path)
    page = queries.results(tmp_path, {"score_min": "0.2"}, "", 1, 25, "score:desc")
    assert [(r["prompt_key"], r["score"]) for r in page.rows] == [
        ("p4", 0.45),
        ("p3", 0.35),
        ("p2", 0.25),
    ]
    unscored = queries.results(tmp_path, {}, "", 1, 25, "score")
    assert unscored.total == 6 and unscored.rows[-1]["score"] is None  # p5: never scored
    with write_connection(tmp_path) as con:  # one run's evaluations rewritten
        con.execute("DELETE FROM evaluations WHERE run_id = 'r0'")
        refresh_scores(con, ["r0"])
    page = queries.results(tmp_path, {"score_min": "0"}, "", 1, 25, "score")
    assert [r["prompt_key"] for r in page.rows] == ["p1", "p3"]


def test_an_index_without_the_table_still_sorts_by_score(tmp_path: Path) -> None:
    _index(tmp_path)
    with write_connection(tmp_path) as con:
        con.execute("ALTER TABLE responses DROP COLUMN mean_score")
    page = queries.results(tmp_path, {"score_max": "0.2"}, "", 1, 25, "score")
    assert [(r["prompt_key"], r["score"]) for r in page.rows] == [
        ("p0", 0.05),
        ("p1", 0.15000000000000002),
    ]


def test_mean_scores_follow_new_rows_a_rebuild_and_a_migration(tmp_path: Path) -> None:
    from runner.index import update_index

    run = tmp_path / "e" / "run-1"
    run.mkdir(parents=True)
    lines = [{"run_id": "run-1", "prompt_key": f"p{i}", "status": "ok"} for i in range(3)]
    (run / "completed.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines[:2]))
    update_index(tmp_path)
    with write_connection(tmp_path) as con:
        con.execute(
            "INSERT INTO evaluations SELECT 'run-1', 'p' || i, 's', 'score', NULL, i, now() "
            "FROM range(3) t(i)"
        )
        refresh_scores(con, ["run-1"])
    with (run / "completed.jsonl").open("a") as handle:  # p2 was scored before it was indexed
        handle.write(json.dumps(lines[2]) + "\n")
    update_index(tmp_path)
    assert _means(tmp_path) == [("p0", 0.0), ("p1", 1.0), ("p2", 2.0)]
    assert update_index(tmp_path, rebuild=True).rebuilt
    assert _means(tmp_path) == [("p0", 0.0), ("p1", 1.0), ("p2", 2.0)]
    with write_connection(tmp_path) as con:  # back to version 5: no means at all
        con.execute("DROP TABLE response_scores")
        con.execute("ALTER TABLE responses DROP COLUMN mean_score")
        con.execute("UPDATE index_meta SET value = '5' WHERE key = 'schema_version'")
    assert not update_index(tmp_path).rebuilt
    assert _means(tmp_path) == [("p0", 0.0), ("p1", 1.0), ("p2", 2.0)]


def _means(outputs: Path) -> list[tuple[object, ...]]:
    with read_connection(outputs) as con:
        return con.execute("SELECT prompt_key, mean_score FROM responses ORDER BY 1").fetchall()
