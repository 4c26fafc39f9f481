"""What the index remembers about each file it read (``indexed_files``, ``skipped_lines``).

Offsets are written in the same transaction as the rows they cover, so a crash never leaves
rows indexed twice or lines lost: either both land or neither does.
"""

from __future__ import annotations

import duckdb

from runner.index.scan import Slice, Stored


def load_stored(con: duckdb.DuckDBPyConnection, kind: str) -> dict[str, Stored]:
    """What was recorded about every file of ``kind`` ('completed' or 'run'), by path."""
    rows = con.execute(
        "SELECT path, bytes_indexed, size, mtime_ns, head_len, head_hash "
        "FROM indexed_files WHERE kind = ?",
        [kind],
    ).fetchall()
    return {
        str(path): Stored(int(done), int(size), int(mtime), int(head_len), str(head_hash))
        for path, done, size, mtime, head_len, head_hash in rows
    }


def forget_rows(con: duckdb.DuckDBPyConnection, rels: list[str]) -> None:
    """Delete what was indexed from these ``completed.jsonl`` files (rewritten or gone)."""
    if not rels:
        return
    params = {"r": rels}
    con.execute("DELETE FROM responses WHERE source_file IN (SELECT unnest($r))", params)
    con.execute("DELETE FROM skipped_lines WHERE file IN (SELECT unnest($r))", params)


def mark_files(con: duckdb.DuckDBPyConnection, slices: list[Slice]) -> None:
    """Record how far each slice's file is now indexed, and its skipped lines."""
    if not slices:
        return
    skipped = [item for sl in slices for item in sl.skipped_lines]
    if skipped:
        con.execute(
            "INSERT INTO skipped_lines SELECT unnest($f), unnest($l), unnest($r), now()",
            {
                "f": [s.file for s in skipped],
                "l": [s.line for s in skipped],
                "r": [s.reason for s in skipped],
            },
        )
    rels = [sl.rel for sl in slices]
    con.execute(
        """
        INSERT OR REPLACE INTO indexed_files
        SELECT f.path, 'completed', f.run_dir, f.done, f.size, f.mtime_ns, f.head_len,
               f.head_hash,
               (SELECT count(*) FROM responses r WHERE r.source_file = f.path),
               (SELECT count(*) FROM skipped_lines k WHERE k.file = f.path),
               now()
        FROM (SELECT unnest($p) AS path, unnest($d) AS run_dir, unnest($e) AS done,
                     unnest($s) AS size, unnest($m) AS mtime_ns, unnest($hl) AS head_len,
                     unnest($hh) AS head_hash) f
        """,
        {
            "p": rels,
            "d": [sl.run.rel for sl in slices],
            "e": [sl.end for sl in slices],
            "s": [sl.size for sl in slices],
            "m": [sl.mtime_ns for sl in slices],
            "hl": [sl.head_len for sl in slices],
            "hh": [sl.head_hash for sl in slices],
        },
    )
    del rels


def mark_run_files(
    con: duckdb.DuckDBPyConnection, entries: list[tuple[str, str, int, int]]
) -> None:
    """Record the stat of ``run.json`` files read: (path, run_dir, size, mtime_ns) each."""
    if not entries:
        return
    con.execute(
        """
        INSERT OR REPLACE INTO indexed_files
        SELECT unnest($p), 'run', unnest($d), unnest($s), unnest($s), unnest($m), 0, '',
               1, 0, now()
        """,
        {
            "p": [e[0] for e in entries],
            "d": [e[1] for e in entries],
            "s": [e[2] for e in entries],
            "m": [e[3] for e in entries],
        },
    )


def drop_missing(con: duckdb.DuckDBPyConnection, present: set[str]) -> int:
    """Forget every indexed file that is no longer on disk; returns how many."""
    rows = con.execute("SELECT path, kind, run_dir FROM indexed_files").fetchall()
    gone = [(str(p), str(k), str(d)) for p, k, d in rows if str(p) not in present]
    if not gone:
        return 0
    con.execute("BEGIN TRANSACTION")
    forget_rows(con, [p for p, k, _ in gone if k == "completed"])
    runs = [d for _, k, d in gone if k == "run"]
    if runs:
        con.execute("DELETE FROM runs WHERE run_dir IN (SELECT unnest($d))", {"d": runs})
    con.execute(
        "DELETE FROM indexed_files WHERE path IN (SELECT unnest($p))", {"p": [g[0] for g in gone]}
    )
    con.execute("COMMIT")
    return len(gone)
