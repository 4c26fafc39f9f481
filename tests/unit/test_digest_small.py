"""The terminal's digest reads a small completed.jsonl itself, as DuckDB reads a large one.

Issue 25 item 6 (speed): starting DuckDB costs more than reading a one-prompt run's file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.report import digest
from runner.report.digest import digest_lines


def _write(run_dir: Path, rows: list[object], junk: bool = True) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row) for row in rows]
    if junk:
        lines.insert(2, "{not json")
    (run_dir / "completed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


ROWS: list[object] = [
    {"line": 5, "status": "ok", "cached": True},
    {"line": 1, "status": "ok", "cached": False},
    {"line": 9, "status": "error", "error_kind": "rate_limit", "error": "429 slow\n down"},
    {"line": 3, "status": "error", "error_kind": "rate_limit", "error": "429 first"},
    {"line": 4, "status": "error", "error_kind": "rate_limit", "error": "429 second"},
    {"line": 7, "status": "error", "error": "no kind " + "x" * 300},
    {"line": 8, "status": "error", "error_kind": "auth", "error": None},
    {"line": 2, "status": "error", "error_kind": "timeout", "error": "t"},
    {"line": 6, "status": "error", "error_kind": "bad", "error": "b"},
    {"line": 10, "status": "error", "error_kind": "auth", "error": "401"},
    {"line": 11, "status": "ok", "cached": True},
]


@pytest.mark.parametrize("junk", [True, False])
def test_a_small_file_gives_the_lines_duckdb_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, junk: bool
) -> None:
    _write(tmp_path / "run", ROWS, junk)
    small = digest_lines(tmp_path / "run", not_sent=3)
    monkeypatch.setattr(digest, "SMALL_BYTES", 0)  # the DuckDB path
    assert digest_lines(tmp_path / "run", not_sent=3) == small
    assert small[0] == "  cached: 2 answer(s) from the cache; not sent: 3"
    assert small[1:4] == ["  errors: rate_limit x3", "    429 first", "    429 second"]
    assert small[-1] == "  errors: more kinds in the report"


def test_a_small_file_is_not_read_by_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "run", ROWS)

    def refuse(_completed: Path) -> None:
        raise AssertionError("DuckDB started for a small file")

    monkeypatch.setattr(digest, "_read_duckdb", refuse)
    assert digest_lines(tmp_path / "run", not_sent=0)[0].startswith("  cached: 2")
