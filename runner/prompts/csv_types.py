"""CSV cells typed as prompto's reader (``pandas.read_csv``) types them, column by column.

pandas gives each column one type: a column of whole numbers is ``int`` (``float`` when a
cell is missing), of numbers ``float``, of ``True``/``False`` cells ``bool``, else text.
Cells pandas reads as missing (empty, ``NaN``, ``None``, ``null``, ``N/A``, ...) are left out
of the record and of ``parameters``, as prompto leaves missing parameters out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from runner.prompts.records import PromptRecord

# pandas.read_csv's default na_values (pandas 2/3).
NA_VALUES = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)  # fmt: skip
TRUE_VALUES = frozenset({"True", "TRUE", "true"})
FALSE_VALUES = frozenset({"False", "FALSE", "false"})
PARAMETERS = "parameters"


def is_missing(cell: str) -> bool:
    return cell in NA_VALUES


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bool(text: str) -> bool:
    return text in TRUE_VALUES


def column_type(cells: list[str], some_missing: bool) -> Callable[[str], Any]:
    """How pandas would type a column of these (present) cells."""
    if cells and all(_is_int(c) for c in cells):
        return float if some_missing else int
    if cells and all(_is_float(c) for c in cells):
        return float
    if cells and all(c in TRUE_VALUES or c in FALSE_VALUES for c in cells):
        return _bool
    return str


def _columns(records: list[PromptRecord]) -> dict[tuple[str, ...], list[str]]:
    found: dict[tuple[str, ...], list[str]] = {}
    for record in records:
        for key, value in record.data.items():
            if key == PARAMETERS and isinstance(value, dict):
                for name, cell in value.items():
                    found.setdefault((PARAMETERS, name), []).append(str(cell))
            else:
                found.setdefault((key,), []).append(str(value))
    return found


def typed_csv_records(rows: Iterable[PromptRecord]) -> Iterator[PromptRecord]:
    """The records of a CSV file (cells as text, missing ones left out), typed by column.

    Reads every row first: a column's type depends on all its cells.
    """
    records = list(rows)
    present = _columns(records)
    types = {
        column: column_type(cells, some_missing=len(cells) < len(records))
        for column, cells in present.items()
    }
    for record in records:
        data: dict[str, Any] = {}
        for key, value in record.data.items():
            if key == PARAMETERS and isinstance(value, dict):
                data[key] = {n: types[(PARAMETERS, n)](str(c)) for n, c in value.items()}
            else:
                data[key] = types[(key,)](str(value))
        yield PromptRecord(data, record.source, record.line)
