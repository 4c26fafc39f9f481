"""``response_scores``: each response's mean score, averaged when evaluations are written."""

from __future__ import annotations

from pathlib import Path

from runner.index.db import write_connection
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
        con.execute("DROP TABLE response_scores")
    page = queries.results(tmp_path, {"score_max": "0.2"}, "", 1, 25, "score")
    assert [(r["prompt_key"], r["score"]) for r in page.rows] == [
        ("p0", 0.05),
        ("p1", 0.15000000000000002),
    ]
