"""Each response's mean score over its steps, kept beside ``evaluations``.

Sorting or filtering a million responses by score must not average the evaluations anew on
every request: whoever writes ``evaluations`` calls :func:`refresh_scores` for the runs it
wrote. The means go to ``response_scores`` (one row per scored (run, prompt)) and to
``responses.mean_score``, so the viewer filters and sorts by a column, with no join.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

SCORES_TABLE = """CREATE TABLE IF NOT EXISTS response_scores (
    run_id VARCHAR, prompt_key VARCHAR, score DOUBLE)"""
_MEAN = (
    "INSERT INTO response_scores SELECT run_id, prompt_key, avg(value_num) FROM evaluations "
    "WHERE field = 'score' AND value_num IS NOT NULL{where} GROUP BY ALL"
)
# responses.mean_score from response_scores; {where} narrows the responses updated.
COPY_TO_RESPONSES = (
    "UPDATE responses r SET mean_score = s.score FROM (SELECT r2.rowid AS rid, s2.score "
    "FROM responses r2 LEFT JOIN response_scores s2 USING (run_id, prompt_key) "
    "WHERE TRUE{where}) s WHERE r.rowid = s.rid"
)
_RUNS = " AND r2.run_id IN (SELECT unnest($r))"


def refresh_scores(con: duckdb.DuckDBPyConnection, run_ids: Iterable[str] | None = None) -> None:
    """Average ``evaluations``' scores again, for ``run_ids`` or (None) every run."""
    con.execute(SCORES_TABLE)
    if run_ids is None:
        con.execute("DELETE FROM response_scores")
        con.execute(_MEAN.format(where=""))
        con.execute(COPY_TO_RESPONSES.format(where=""))
        return
    runs = {"r": sorted(set(run_ids))}
    con.execute("DELETE FROM response_scores WHERE run_id IN (SELECT unnest($r))", runs)
    con.execute(_MEAN.format(where=" AND run_id IN (SELECT unnest($r))"), runs)
    con.execute(COPY_TO_RESPONSES.format(where=_RUNS), runs)


def score_new_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Give responses just indexed the mean score their (run, prompt) already has."""
    con.execute(
        "UPDATE responses r SET mean_score = s.score FROM response_scores s "
        "WHERE r.mean_score IS NULL AND r.run_id = s.run_id AND r.prompt_key = s.prompt_key"
    )
