"""``runner.report out=FILE`` never overwrites a file that is no report of runner's.

``out=notes.txt`` replaced the user's notes with the report; a report written before is
still rewritten, as a rerun of the same command expects.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import BadInputError
from runner.report.__main__ import check_out

REPORT_TOP = (
    '<!DOCTYPE html>\n<title>run a</title>\n<p class="muted">Generated '
    "2026-12-07T04:58:37+00:00 by runner 0.1.0. Self-contained: opens offline.</p>\n"
)


def test_a_file_of_the_users_is_refused_and_kept(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n", encoding="utf-8")
    own = tmp_path / "mine.html"
    own.write_text("<!DOCTYPE html><p>my own page</p>\n", encoding="utf-8")
    for path in (notes, own):
        with pytest.raises(BadInputError, match="exists and is no report of runner's"):
            check_out(path)
    assert notes.read_text(encoding="utf-8") == "keep me\n"


def test_a_report_written_before_or_a_new_file_is_taken(tmp_path: Path) -> None:
    before = tmp_path / "report.html"
    before.write_text(REPORT_TOP, encoding="utf-8")
    check_out(before)
    check_out(tmp_path / "new.html")
