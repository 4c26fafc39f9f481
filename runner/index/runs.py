"""Load each run's ``run.json`` into the ``runs`` table (one row per run, replaced on change).

``run.json`` is small and rewritten whole at the end of a run, so it is re-read whenever its
size or modification time changes; Python checks it parses, DuckDB extracts the columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
from loguru import logger

from runner.index.report import SkippedLine
from runner.index.scan import RUN_JSON, RunDir, Stored
from runner.index.state import mark_run_files

_INSERT = """
INSERT INTO runs
SELECT coalesce(j->>'run_id', dir_run_id), coalesce(j->>'experiment', dir_experiment),
       j->>'status',
       TRY_CAST(j->>'started_at' AS TIMESTAMPTZ), TRY_CAST(j->>'finished_at' AS TIMESTAMPTZ),
       TRY_CAST(j->>'wall_time_s' AS DOUBLE), TRY_CAST(j->>'total' AS BIGINT),
       TRY_CAST(j->'counts'->>'ok' AS BIGINT), TRY_CAST(j->'counts'->>'error' AS BIGINT),
       nullif(j->'counts', 'null'::JSON),
       nullif(j->'models', 'null'::JSON),
       json_extract_string(j, '$.models[*].model_name'),
       json_extract_string(j, '$.models[*].api'),
       j->>'input_file', nullif(j->'groups', 'null'::JSON),
       nullif(j->'config', 'null'::JSON), nullif(j->'overrides', 'null'::JSON),
       j->>'version', run_dir, j, now(),
       j->>'input_sha256', j->>'git_commit', TRY_CAST(j->>'git_dirty' AS BOOLEAN),
       j->>'host', nullif(j->'versions', 'null'::JSON),
       TRY_CAST(j->'cost'->>'total_usd' AS DOUBLE), nullif(j->'cost', 'null'::JSON),
       TRY_CAST(j->'cost'->'tokens'->>'input_tokens' AS BIGINT),
       TRY_CAST(j->'cost'->'tokens'->>'cached_input_tokens' AS BIGINT),
       TRY_CAST(j->'cost'->'tokens'->>'cache_write_tokens' AS BIGINT),
       TRY_CAST(j->'cost'->'tokens'->>'output_tokens' AS BIGINT),
       TRY_CAST(j->'cost'->'tokens'->>'reasoning_tokens' AS BIGINT),
       j->>'sharded_run', TRY_CAST(j->>'shard' AS BIGINT), TRY_CAST(j->>'shards' AS BIGINT)
FROM (SELECT unnest($dirs) AS run_dir, unnest($texts)::JSON AS j,
             unnest($run_ids) AS dir_run_id, unnest($exps) AS dir_experiment)
"""

# The run.json text one INSERT takes at most. DuckDB holds a statement's JSON values and
# every column taken from them at once: 3,007 run.json files of 4.6 kB (14 MB) in one went
# over the writer's memory cap (runner.index.db.WRITER_MEMORY), and the fall-back of one
# transaction per run took 20 s where chunks take well under one.
_CHUNK_BYTES = 1 << 20


def _parse(path: Path) -> tuple[dict[str, object] | None, str]:
    """The run.json object and its compact text, or None and why it is unusable."""
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        return None, f"cannot read: {exc.strerror}"
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"invalid JSON ({exc})"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    return obj, json.dumps(obj, ensure_ascii=False)


def update_runs(
    con: duckdb.DuckDBPyConnection,
    outputs_dir: Path,
    runs: list[RunDir],
    stored: dict[str, Stored],
) -> tuple[dict[str, str], list[SkippedLine]]:
    """Re-read every changed ``run.json``; returns {run_dir: status} read and bad files."""
    changed: list[tuple[RunDir, str, int, int]] = []
    for run in runs:
        st = run.run_json
        if st is None:
            continue
        rel = f"{run.rel}/{RUN_JSON}"
        old = stored.get(rel)
        if old is None or (old.size, old.mtime_ns) != (st.st_size, st.st_mtime_ns):
            changed.append((run, rel, st.st_size, st.st_mtime_ns))
    statuses: dict[str, str] = {}
    skipped: list[SkippedLine] = []
    good: list[tuple[RunDir, str]] = []
    for run, rel, _, _ in changed:
        obj, text = _parse(outputs_dir / rel)
        if obj is None:
            # Remembered as read, so a broken file is reported once, not on every update.
            skipped.append(SkippedLine(rel, 1, text))
            logger.warning("results index: skipped {}: {}", rel, text)
            continue
        statuses[run.rel] = str(obj.get("status") or "")
        good.append((run, text))
    if not changed:
        return statuses, skipped
    marks = [(rel, run.rel, size, mtime) for run, rel, size, mtime in changed]
    con.execute("BEGIN TRANSACTION")
    try:
        for chunk in _chunks(good):
            _replace(con, chunk)
        mark_run_files(con, marks)
        con.execute("COMMIT")
    except duckdb.Error:
        # One file DuckDB rejects (say a lone surrogate) must not hold back the others.
        con.execute("ROLLBACK")
        for run, text in good:
            con.execute("BEGIN TRANSACTION")
            try:
                _replace(con, [(run, text)])
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                rel = f"{run.rel}/{RUN_JSON}"
                skipped.append(SkippedLine(rel, 1, str(exc).splitlines()[0]))
                logger.warning("results index: skipped {}: {}", rel, exc)
        con.execute("BEGIN TRANSACTION")
        mark_run_files(con, marks)
        con.execute("COMMIT")
    return statuses, skipped


def _chunks(items: list[tuple[RunDir, str]]) -> Iterator[list[tuple[RunDir, str]]]:
    """``items`` in runs of at most :data:`_CHUNK_BYTES` of text (a bigger file alone)."""
    chunk: list[tuple[RunDir, str]] = []
    size = 0
    for item in items:
        if chunk and size + len(item[1]) > _CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item[1])
    if chunk:
        yield chunk


def _replace(con: duckdb.DuckDBPyConnection, items: list[tuple[RunDir, str]]) -> None:
    """Replace the ``runs`` rows of these run folders with their new run.json."""
    if not items:
        return
    dirs = [run.rel for run, _ in items]
    con.execute("DELETE FROM runs WHERE run_dir IN (SELECT unnest($d))", {"d": dirs})
    con.execute(
        _INSERT,
        {
            "dirs": dirs,
            "texts": [text for _, text in items],
            "run_ids": [run.run_id for run, _ in items],
            "exps": [run.experiment for run, _ in items],
        },
    )
