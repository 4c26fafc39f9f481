"""Hand labels in the index: ``<outputs>/labels.jsonl`` (the viewer's) as the ``labels`` table.

The file is append-only, so each update reads only the bytes after the last one indexed (up
to the last complete line); a file that shrank was rewritten and is read again whole. The
table keeps the newest label per (run, prompt): a later line replaces an earlier one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from runner.index.db import DEFAULT_WAIT_S, read_connection
from runner.index.errors import ResultsIndexError

LABELS_FILE = "labels.jsonl"
LABELS = ("good", "bad")
# index_meta's key for how many bytes of the file the table holds.
_OFFSET_KEY = "labels_bytes"


def labels_path(outputs_dir: Path) -> Path:
    """Where an outputs folder's labels live."""
    return Path(outputs_dir) / LABELS_FILE


def read_label_lines(
    path: Path, start: int = 0
) -> tuple[dict[tuple[str, str], dict[str, Any]], int]:
    """The newest label per (run, prompt) in ``path`` from byte ``start``, and where it ended.

    Only complete lines are read (a line being appended is left for next time); lines that
    are not a label are skipped.
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if not path.is_file():
        return out, 0
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read()
    end = data.rfind(b"\n") + 1
    for text in data[:end].decode("utf-8", errors="replace").splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        if not isinstance(line, dict) or line.get("label") not in LABELS:
            continue
        if not line.get("run_id") or not line.get("prompt_key"):
            continue
        out[(str(line["run_id"]), str(line["prompt_key"]))] = line
    return out, start + end


def indexed_offset(con: duckdb.DuckDBPyConnection) -> int:
    """How many bytes of the labels file the ``labels`` table holds."""
    row = con.execute("SELECT value FROM index_meta WHERE key = ?", [_OFFSET_KEY]).fetchone()
    return int(row[0]) if row else 0


def load_labels(con: duckdb.DuckDBPyConnection, outputs_dir: Path) -> int:
    """Bring the ``labels`` table up to date with the file; returns how many labels were read."""
    path = labels_path(outputs_dir)
    start = indexed_offset(con)
    size = path.stat().st_size if path.is_file() else 0
    if size == start:
        return 0
    if size < start:  # rewritten or removed: read again from the start
        start = 0
    found, end = read_label_lines(path, start)
    lines = list(found.values())
    con.execute("BEGIN TRANSACTION")
    if start == 0:
        con.execute("DELETE FROM labels")
    if lines:
        con.execute(
            "INSERT OR REPLACE INTO labels SELECT unnest($r), unnest($k), unnest($l), "
            "unnest($n), TRY_CAST(unnest($t) AS TIMESTAMPTZ)",
            {
                "r": [str(x["run_id"]) for x in lines],
                "k": [str(x["prompt_key"]) for x in lines],
                "l": [str(x["label"]) for x in lines],
                "n": [str(x.get("note") or "") for x in lines],
                "t": [str(x.get("labelled_at") or "") or None for x in lines],
            },
        )
    con.execute("INSERT OR REPLACE INTO index_meta VALUES (?, ?)", [_OFFSET_KEY, str(end)])
    con.execute("COMMIT")
    return len(lines)


def indexed_labels(
    con: duckdb.DuckDBPyConnection, run_id: str | None = None
) -> tuple[dict[tuple[str, str], dict[str, Any]], int]:
    """The ``labels`` table's labels (of one run or all) and the file offset they reach."""
    sql = (
        "SELECT run_id, prompt_key, label, note, "
        "strftime(labelled_at, '%Y-%m-%dT%H:%M:%S%z') FROM labels"
    )
    rows = con.execute(
        sql + (" WHERE run_id = $r" if run_id else ""), {"r": run_id} if run_id else {}
    ).fetchall()
    out = {
        (str(r), str(k)): {
            "run_id": r,
            "prompt_key": k,
            "label": lab,
            "note": note,
            "labelled_at": at,
        }
        for r, k, lab, note, at in rows
    }
    return out, indexed_offset(con)


def current_labels(
    outputs_dir: Path, run_id: str | None = None, *, wait: float = DEFAULT_WAIT_S
) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest label per (run, prompt), of one run or all: the index's ``labels`` table,
    and the file's lines the index has not read yet (so a label shows at once)."""
    try:
        with read_connection(outputs_dir, wait=wait) as con:
            out, offset = indexed_labels(con, run_id)
    except (ResultsIndexError, duckdb.Error):  # no index yet, a busy one, or one before labels
        out, offset = {}, 0
    path = labels_path(outputs_dir)
    if path.is_file() and path.stat().st_size < offset:
        out, offset = {}, 0  # the file was rewritten: the index is behind it
    tail, _ = read_label_lines(path, offset)
    out.update((k, v) for k, v in tail.items() if run_id is None or k[0] == run_id)
    return out
