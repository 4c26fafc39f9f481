"""Results as a pandas DataFrame, and as CSV (dict and list columns as JSON)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.output.disk import write_failed
from runner.output.results import full_line
from runner.visible import spreadsheet_cell

if TYPE_CHECKING:
    import pandas as pd


def iter_results(path: Path) -> Iterator[dict[str, Any]]:
    """The complete lines of ``completed.jsonl`` (a torn last line is skipped).

    Each with the fields a line leaves out at their defaults put back (see ``full_line``).
    """
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # a line still being written, or torn by a crash
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            yield full_line(value) if isinstance(value, dict) else value


def read_results(path: Path) -> pd.DataFrame:
    """The results of ``completed.jsonl`` as a DataFrame."""
    import pandas as pd  # imported here: the command line never needs it

    return pd.DataFrame(list(iter_results(path)))


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return spreadsheet_cell(value)  # an answer "=HYPERLINK(...)" is text, not a formula
    return "" if value is None else value


def export_csv(source: Path, target: Path) -> int:
    """Write the results of ``source`` as CSV, streaming; returns the rows written.

    Columns are the union of every line's keys, in first-seen order; dict and list cells
    are written as JSON text, and a text cell a spreadsheet would run as a formula (``=``,
    ``+``, ``-``, ``@`` first, not a number) leads with a ``'``.

    Raises:
        DiskFullError: the CSV could not be written (no partial file is left).
    """
    columns: dict[str, None] = {}
    for row in iter_results(source):
        columns.update(dict.fromkeys(row))
    count = 0
    # Written beside and renamed, so a full disk never leaves a half CSV under the real name.
    tmp = target.with_name(target.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            for row in iter_results(source):
                writer.writerow({k: _cell(v) for k, v in row.items()})
                count += 1
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_failed(exc, target, "the CSV export") from None
    return count
