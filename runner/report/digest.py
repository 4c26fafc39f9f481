"""The terminal's digest of a run's results: cached answers and the first errors by kind.

Read with DuckDB from ``completed.jsonl`` (a million lines take about a second), so the
engine keeps no error messages in memory for it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from runner.output.run_folder import COMPLETED

KINDS_SHOWN = 4
MESSAGES_PER_KIND = 2
MESSAGE_CHARS = 160


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def digest_lines(run_dir: Path, not_sent: int) -> list[str]:
    """Lines for the terminal: cached and not-sent counts, then errors grouped by kind."""
    completed = run_dir / COMPLETED
    if not completed.is_file() or completed.stat().st_size == 0:
        return []
    con = duckdb.connect(":memory:", config={"memory_limit": "64MB", "threads": 1})
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(
            f"CREATE VIEW r AS SELECT * FROM read_json({_literal(completed)}, "
            "format = 'newline_delimited', ignore_errors = true, columns = {'status': "
            "'VARCHAR', 'error_kind': 'VARCHAR', 'error': 'VARCHAR', 'cached': 'BOOLEAN', "
            "'line': 'BIGINT'})"
        )
        row = con.execute("SELECT count(*) FILTER (WHERE cached) FROM r").fetchone()
        cached = int(row[0]) if row and row[0] else 0
        kinds = con.execute(
            "SELECT coalesce(error_kind, 'error') AS kind, count(*) AS n, "
            f"list(error ORDER BY line)[1:{MESSAGES_PER_KIND}] FROM r "
            f"WHERE status = 'error' GROUP BY 1 ORDER BY n DESC, 1 LIMIT {KINDS_SHOWN + 1}"
        ).fetchall()
    except duckdb.Error:
        return []
    finally:
        con.close()
    lines = [f"  cached: {cached} answer(s) from the cache; not sent: {not_sent}"]
    for kind, n, messages in kinds[:KINDS_SHOWN]:
        lines.append(f"  errors: {kind} x{n}")
        for message in messages or []:
            text = " ".join(str(message or "").split())
            cut = text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"
            lines.append(f"    {cut}")
    if len(kinds) > KINDS_SHOWN:
        lines.append("  errors: more kinds in the report")
    return lines
