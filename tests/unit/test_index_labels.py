"""Hand labels in the index: labels.jsonl (the viewer's) as the ``labels`` table (issue 21)."""

from __future__ import annotations

from pathlib import Path

from runner.index import update_index
from runner.index.db import read_connection, write_connection
from runner.index.schema import SCHEMA_VERSION
from runner.index.scores import refresh_scores
from runner.query import query_df
from runner.view.labels import append_label, read_labels


def _labels(outputs: Path) -> list[tuple[object, ...]]:
    with read_connection(outputs) as con:
        return con.execute(
            "SELECT run_id, prompt_key, label, note FROM labels ORDER BY ALL"
        ).fetchall()


def test_a_label_is_indexed_and_the_newest_wins(tmp_path: Path) -> None:
    append_label(tmp_path, "run-1", "p1", "bad", "wrong unit")
    append_label(tmp_path, "run-1", "p2", "good", "")
    update_index(tmp_path)
    assert _labels(tmp_path) == [("run-1", "p1", "bad", "wrong unit"), ("run-1", "p2", "good", "")]
    append_label(tmp_path, "run-1", "p1", "good", "fixed on second look")
    with (tmp_path / "labels.jsonl").open("a") as handle:  # a half-written line waits
        handle.write('not json\n{"run_id": "run-2", "prompt_key": "p9", "label": "go')
    update_index(tmp_path)
    assert _labels(tmp_path) == [
        ("run-1", "p1", "good", "fixed on second look"),
        ("run-1", "p2", "good", ""),
    ]
    with read_connection(tmp_path) as con:
        sql = "SELECT labelled_at::VARCHAR FROM labels WHERE prompt_key = 'p1'"
        at = con.execute(sql).fetchone()
    assert at is not None and at[0] is not None


def test_labels_survive_a_rebuild_and_a_rewritten_file(tmp_path: Path) -> None:
    append_label(tmp_path, "run-1", "p1", "bad", "")
    update_index(tmp_path)
    with write_connection(tmp_path) as con:
        con.execute("INSERT INTO evaluations VALUES ('run-1', 'p1', 's', 'score', '1', 1, now())")
        refresh_scores(con)
    assert update_index(tmp_path, rebuild=True).rebuilt
    assert _labels(tmp_path) == [("run-1", "p1", "bad", "")]
    with read_connection(tmp_path) as con:  # kept, as the evaluations are
        assert con.execute("SELECT * FROM response_scores").fetchall() == [("run-1", "p1", 1.0)]
    (tmp_path / "labels.jsonl").write_text("")  # someone cleared it: the index follows
    update_index(tmp_path)
    assert _labels(tmp_path) == []


def test_a_version_5_index_gets_labels_in_place(tmp_path: Path) -> None:
    update_index(tmp_path)
    with write_connection(tmp_path) as con:  # make it a version-5 index, with an evaluation
        con.execute("DROP TABLE labels")
        con.execute("DROP TABLE response_scores")
        con.execute("ALTER TABLE responses DROP COLUMN mean_score")
        con.execute("UPDATE index_meta SET value = '5' WHERE key = 'schema_version'")
        con.execute("INSERT INTO evaluations VALUES ('run-1', 'p1', 's', 'score', '1', 1, now())")
    append_label(tmp_path, "run-1", "p1", "good", "")
    assert not update_index(tmp_path).rebuilt
    assert _labels(tmp_path) == [("run-1", "p1", "good", "")]
    with read_connection(tmp_path) as con:
        assert con.execute("SELECT count(*) FROM evaluations").fetchone() == (1,)
        # The mean scores the viewer sorts by came with the migration.
        assert con.execute("SELECT * FROM response_scores").fetchall() == [("run-1", "p1", 1.0)]
        assert con.execute("SELECT count(mean_score) FROM responses").fetchone() == (0,)
        version = con.execute("SELECT value FROM index_meta WHERE key = 'schema_version'")
        assert version.fetchone() == (SCHEMA_VERSION,) == ("6",)


def test_the_viewer_reads_the_index_and_the_lines_not_indexed_yet(tmp_path: Path) -> None:
    assert read_labels(tmp_path) == {}  # no index, no file
    append_label(tmp_path, "run-1", "p1", "bad", "")
    update_index(tmp_path)
    with write_connection(tmp_path) as con:  # proves the indexed label is read from the index
        con.execute("UPDATE labels SET note = 'from the index'")
    append_label(tmp_path, "run-1", "p2", "good", "just now")  # not indexed yet
    got = read_labels(tmp_path)
    assert got[("run-1", "p1")]["note"] == "from the index"
    assert got[("run-1", "p2")]["note"] == "just now"
    assert set(read_labels(tmp_path, "run-2")) == set()


def test_labels_can_be_queried(tmp_path: Path) -> None:
    append_label(tmp_path, "run-1", "p1", "bad", "")
    update_index(tmp_path)
    frame = query_df("SELECT label, count(*) AS n FROM labels GROUP BY label", tmp_path)
    assert frame.to_dict("records") == [{"label": "bad", "n": 1}]


def test_a_label_file_of_an_unreadable_line_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "labels.jsonl").write_text('[1]\n{"label": "good"}\n')
    update_index(tmp_path)
    assert _labels(tmp_path) == []
