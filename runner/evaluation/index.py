"""Put evaluation rows into the DuckDB index: the ``evaluations`` table and two views.

``evaluations`` (owned by no rebuild: ``python -m runner.index --rebuild`` keeps it) holds one
row per (run, prompt, step, field); a run's rows are replaced whole from its
``evaluations.jsonl`` each time, so re-indexing is idempotent. The views join the
``responses`` table for the model and experiment:

* ``evaluation_results``: the long form, one row per field, with ``model_name``, ``experiment``.
* ``evaluation_scores``: one row per response and step, with ``score``, ``label``, ``raw``,
  ``error`` columns and every field in ``fields`` (a JSON map).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from runner.evaluation.store import EVALUATIONS, latest_rows, value_num, value_text
from runner.index.db import write_connection
from runner.index.schema import ensure_schema
from runner.index.scores import refresh_scores

# One row per (run_id, prompt_key): responses may hold a prompt twice (a resumed run).
_RESPONSE = """(SELECT DISTINCT ON (run_id, prompt_key)
        run_id, prompt_key, experiment, api, model_name, "group", response, status
    FROM responses ORDER BY run_id, prompt_key, timestamp_received DESC NULLS LAST)"""

_VIEWS = (
    f"""CREATE OR REPLACE VIEW evaluation_results AS
    SELECT e.run_id, e.prompt_key, r.experiment, r.api, r.model_name, r."group",
        e.step, e.field, e.value, e.value_num, e.created_at
    FROM evaluations e LEFT JOIN {_RESPONSE} r USING (run_id, prompt_key)""",
    f"""CREATE OR REPLACE VIEW evaluation_scores AS
    SELECT e.run_id, e.prompt_key, any_value(r.experiment) AS experiment,
        any_value(r.api) AS api, any_value(r.model_name) AS model_name,
        e.step,
        max(e.value_num) FILTER (WHERE e.field = 'score') AS score,
        max(e.value) FILTER (WHERE e.field = 'label') AS label,
        max(e.value) FILTER (WHERE e.field = 'raw') AS raw,
        max(e.value) FILTER (WHERE e.field = 'error') AS error,
        to_json(map(list(e.field), list(e.value))) AS fields,
        max(e.created_at) AS created_at
    FROM evaluations e LEFT JOIN {_RESPONSE} r USING (run_id, prompt_key)
    GROUP BY e.run_id, e.prompt_key, e.step""",
)


def index_evaluations(outputs_dir: Path, run_dirs: Iterable[Path]) -> int:
    """Replace the index's evaluation rows of each run with its ``evaluations.jsonl``.

    Returns the number of rows now indexed for those runs.

    Raises:
        IndexBusyError: another process kept the index too long.
    """
    rows: list[tuple[object, ...]] = []
    run_ids: set[str] = set()
    for run_dir in run_dirs:
        run_ids.add(Path(run_dir).name)
        for row in latest_rows(Path(run_dir) / EVALUATIONS):
            run_ids.add(str(row["run_id"]))
            value = row.get("value")
            rows.append(
                (
                    str(row["run_id"]),
                    str(row["prompt_key"]),
                    str(row["step"]),
                    str(row["field"]),
                    value_text(value),
                    value_num(value),
                    row.get("created_at"),
                )
            )
    with write_connection(Path(outputs_dir)) as con:
        ensure_schema(con)
        con.execute("BEGIN TRANSACTION")
        for run_id in sorted(run_ids):
            con.execute("DELETE FROM evaluations WHERE run_id = ?", [run_id])
        if rows:
            con.executemany("INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        refresh_scores(con, run_ids)
        for view in _VIEWS:
            con.execute(view)
        con.execute("COMMIT")
    return len(rows)
