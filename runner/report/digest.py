"""The terminal's digest of a run's results: cached answers and the first errors by kind.

Read with DuckDB from ``completed.jsonl`` (a million lines take about a second), so the
engine keeps no error messages in memory for it; a small file is read line by line here,
which costs less than starting DuckDB for it.
"""

from __future__ import annotations

import glob
import json
from collections import Counter
from pathlib import Path
from typing import Any

from runner.output.run_folder import COMPLETED

KINDS_SHOWN = 4
MESSAGES_PER_KIND = 2
MESSAGE_CHARS = 160
# Below this size the digest reads the file itself (a few hundred result lines).
SMALL_BYTES = 256 * 1024


def _literal(path: Path) -> str:
    return "'" + glob.escape(str(path)).replace("'", "''") + "'"  # DuckDB globs what it reads


def digest_lines(run_dir: Path, not_sent: int) -> list[str]:
    """Lines for the terminal: cached and not-sent counts, then errors grouped by kind."""
    completed = run_dir / COMPLETED
    if not completed.is_file() or completed.stat().st_size == 0:
        return []
    if completed.stat().st_size <= SMALL_BYTES:
        cached, kinds = _read_small(completed)
    else:
        found = _read_duckdb(completed)
        if found is None:
            return []
        cached, kinds = found
    return _lines(cached, kinds, not_sent)


_Kinds = list[tuple[str, int, list[Any]]]


def _read_small(completed: Path) -> tuple[int, _Kinds]:
    """What :func:`_read_duckdb` reads, from a small file (lines that are not objects skipped)."""
    cached, counts = 0, Counter[str]()
    errors: dict[str, list[tuple[bool, int, Any]]] = {}
    with completed.open(encoding="utf-8", errors="replace") as handle:
        for text in handle:
            try:
                row = json.loads(text)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            cached += row.get("cached") is True
            if row.get("status") != "error":
                continue
            kind = row.get("error_kind")
            kind = "error" if kind is None else str(kind)
            counts[kind] += 1
            line = row.get("line")
            at = (not isinstance(line, int), line if isinstance(line, int) else 0)
            errors.setdefault(kind, []).append((*at, row.get("error")))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: KINDS_SHOWN + 1]
    firsts = {k: [m for *_, m in sorted(v, key=lambda e: e[:2])] for k, v in errors.items()}
    return cached, [(k, n, firsts[k][:MESSAGES_PER_KIND]) for k, n in ranked]


def _read_duckdb(completed: Path) -> tuple[int, _Kinds] | None:
    """The cached count and the error kinds (most first), read by DuckDB; None if it cannot."""
    import duckdb

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
        return None
    finally:
        con.close()
    return cached, [(str(k), int(n), list(m or [])) for k, n, m in kinds]


def _lines(cached: int, kinds: _Kinds, not_sent: int) -> list[str]:
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
