"""``response_scores``: each response's mean score over its steps, kept beside ``evaluations``.

Sorting or filtering a million responses by score must not average the evaluations anew on
every request: whoever writes ``evaluations`` calls :func:`refresh_scores` for the runs it
wrote, and the viewer joins this table (one row per scored (run, prompt)) instead.
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


def refresh_scores(con: duckdb.DuckDBPyConnection, run_ids: Iterable[str] | None = None) -> None:
    """Average ``evaluations``' scores again, for ``run_ids`` or (None) every run."""
    con.execute(SCORES_TABLE)
    if run_ids is None:
        con.execute("DELETE FROM response_scores")
        con.execute(_MEAN.format(where=""))
        return
    runs = sorted(set(run_ids))
    con.execute("DELETE FROM response_scores WHERE run_id IN (SELECT unnest($r))", {"r": runs})
    con.execute(_MEAN.format(where=" AND run_id IN (SELECT unnest($r))"), {"r": runs})
