"""CSV exports hold text a spreadsheet shows, never a formula it runs (OWASP CSV injection).

A model's answer or a prompt ``=HYPERLINK("http://evil","x")`` or ``+cmd|' /C calc'!A0``
was written as it came into ``results.csv``, ``runner.query --format csv`` and the
viewer's CSV download: opened in a spreadsheet, it ran. Such a text cell now leads with a
``'``; a number stays a number (``-0.5``), and JSONL, JSON and Parquet are unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest

from runner.output.export import export_csv
from runner.query.render import export
from runner.view.export import _encode
from runner.visible import spreadsheet_cell

HOSTILE = ['=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1"]
KEPT = ["-0.5", "+1e5", "plain", "", "a=b", "<b>x</b>"]


def test_a_formula_leads_with_a_quote_and_a_number_stays() -> None:
    assert [spreadsheet_cell(t) for t in HOSTILE] == ["'" + t for t in HOSTILE]
    assert [spreadsheet_cell(t) for t in KEPT] == KEPT


def test_results_csv_quotes_formulas(tmp_path: Path) -> None:
    source = tmp_path / "completed.jsonl"
    lines = [{"id": t, "response": t, "attempts": 1, "usage": {"x": 1}} for t in HOSTILE + KEPT]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    export_csv(source, tmp_path / "results.csv")
    with (tmp_path / "results.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["response"] for r in rows] == ["'" + t for t in HOSTILE] + KEPT
    assert rows[0]["attempts"] == "1" and rows[0]["usage"] == '{"x": 1}'


def test_the_viewers_csv_download_quotes_formulas() -> None:
    data = _encode("csv", ["response", "n"], [(t, -1) for t in HOSTILE], header=True)
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[1:] == [["'" + t, "-1"] for t in HOSTILE]


@pytest.mark.parametrize(("fmt", "quoted"), [("csv", True), ("json", False)])
def test_query_exports_quote_formulas_in_csv_only(tmp_path: Path, fmt: str, quoted: bool) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (response VARCHAR, n DOUBLE)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [[t, -0.5] for t in HOSTILE + KEPT])
    out = tmp_path / f"out.{fmt}"
    export(con, con.sql("SELECT * FROM t"), fmt, out, None)
    if fmt == "csv":
        with out.open(encoding="utf-8", newline="") as handle:
            cells = [r["response"] for r in csv.DictReader(handle)]
    else:
        cells = [r["response"] for r in json.loads(out.read_text(encoding="utf-8"))]
    expected = ["'" + t for t in HOSTILE] if quoted else HOSTILE
    assert cells == expected + KEPT
