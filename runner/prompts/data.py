"""The rows a template experiment is expanded over: a JSONL, CSV or Parquet file, or a list.

Rows stream one at a time (a Parquet file in batches through DuckDB), each with the number
a message names it by: its line in a JSONL file, its first line in a CSV file, its row in a
Parquet file or an inline list (from 1). A bad row stops the expansion with one line naming
the file, the line and the field: nothing is sent.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import BadInputError
from runner.prompts.reader import csv_rows, text_lines, value_problem
from runner.wire_json import loads_exact

DATA_SUFFIXES = (".jsonl", ".csv", ".parquet")
# Rows fetched from a Parquet file at a time.
_PARQUET_BATCH = 2048


@dataclass(frozen=True)
class DataRow:
    """A row of the data: its columns, its line (for messages) and its id (for keys)."""

    columns: dict[str, Any]
    line: int
    row_id: str


def row_id(columns: dict[str, Any], number: int, where: str) -> str:
    """The row's ``id`` column, else its number: the first part of every key it expands to.

    Raises:
        BadInputError: the ``id`` is neither a string nor a number.
    """
    value = columns.get("id")
    if value in (None, ""):
        return str(number)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadInputError(
            f"{where}: field 'id' must be a string or a number, got {type(value).__name__}; "
            "nothing was sent"
        )
    return str(value)


def check_data_path(path: Path) -> None:
    """Fail clearly when ``path`` cannot be a data file.

    Raises:
        BadInputError: another extension, or no such file.
    """
    if path.suffix not in DATA_SUFFIXES:
        raise BadInputError(
            f"{path}: data files must end in .jsonl, .csv or .parquet, "
            f"not {path.suffix or '(none)'!r}"
        )
    if not path.is_file():
        raise BadInputError(f"{path}: no such data file; check experiments_dir and data")


def _row(columns: Any, number: int, where: str) -> DataRow:
    if not isinstance(columns, dict):
        raise BadInputError(
            f"{where}: a data row must be an object of columns, got {type(columns).__name__}; "
            "nothing was sent"
        )
    return DataRow(columns, number, row_id(columns, number, where))


def _jsonl_rows(path: Path) -> Iterator[DataRow]:
    for number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            data = loads_exact(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(
                f"{path}:{number}: not valid JSON ({exc.msg.removesuffix(' at')} at column "
                f"{exc.colno}); each "
                "line of a data file must be one JSON object; nothing was sent"
            ) from None
        problem = value_problem(line, data)
        if problem:
            raise BadInputError(f"{path}:{number}: {problem}; nothing was sent")
        yield _row(data, number, f"{path}:{number}")


def _csv_rows(path: Path) -> Iterator[DataRow]:
    reader = csv_rows(path)
    start = 2
    try:
        for row in reader:
            if None in row:
                raise BadInputError(
                    f"{path}:{start}: field {len(reader.fieldnames or []) + 1}: this row has "
                    "more cells than the header has columns; nothing was sent"
                )
            if any(row.values()):
                yield _row(dict(row), start, f"{path}:{start}")
            start = reader.line_num + 1
    except csv.Error as exc:
        raise BadInputError(f"{path}:{start}: unreadable CSV ({exc}); nothing was sent") from None


def _parquet_rows(path: Path) -> Iterator[DataRow]:
    import duckdb  # only for a Parquet file

    with duckdb.connect(":memory:", config={"threads": 1}) as con:
        try:
            cursor = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        except duckdb.Error as exc:
            raise BadInputError(f"{path}: unreadable Parquet file ({exc})") from None
        names = [d[0] for d in cursor.description or []]
        number = 0
        while batch := cursor.fetchmany(_PARQUET_BATCH):
            for values in batch:
                number += 1
                yield _row(dict(zip(names, values, strict=True)), number, f"{path}:row {number}")


def iter_rows(data: Any, base: Path) -> Iterator[DataRow]:
    """Stream the rows of ``data``: a file name (relative to ``base``) or a list of rows.

    Raises:
        BadInputError: no such file, another kind of file, or a bad row (file, line, field).
    """
    if isinstance(data, list):
        for number, columns in enumerate(data, start=1):
            yield _row(columns, number, f"experiment.data[{number - 1}]")
        return
    if not isinstance(data, str) or not data:
        raise BadInputError(
            f"experiment.data must be a file name or a list of rows, got {type(data).__name__}"
        )
    path = data_path(data, base)
    check_data_path(path)
    if path.suffix == ".jsonl":
        yield from _jsonl_rows(path)
    elif path.suffix == ".csv":
        yield from _csv_rows(path)
    else:
        yield from _parquet_rows(path)


def data_path(data: str, base: Path) -> Path:
    """The data file ``data`` names: absolute as given, else relative to ``base``."""
    path = Path(data).expanduser()
    return path if path.is_absolute() else base / path
