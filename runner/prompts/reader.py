"""Read experiment files (prompto's JSONL and CSV formats) into records, line by line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.errors import BadInputError
from runner.prompts.csv_types import is_missing, typed_csv_records
from runner.prompts.records import PromptRecord

SUFFIXES = (".jsonl", ".csv")
_PARAM_PREFIX = "parameters-"


def check_experiment_path(path: Path) -> None:
    """Fail with a clear message when ``path`` cannot be an experiment file.

    Raises:
        BadInputError: a missing file or an extension other than .jsonl or .csv.
    """
    if path.suffix not in SUFFIXES:
        raise BadInputError(
            f"{path}: experiment files must end in .jsonl or .csv, not {path.suffix or '(none)'!r}"
        )
    if not path.is_file():
        raise BadInputError(f"{path}: no such experiment file; check experiments_dir and the name")


def _jsonl_records(path: Path) -> Iterator[PromptRecord]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInputError(
                    f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno}); "
                    "each line must be one JSON object"
                ) from None
            if not isinstance(data, dict):
                raise BadInputError(
                    f"{path}:{number}: a line must be a JSON object, got {type(data).__name__}"
                )
            yield PromptRecord(data, str(path), number)


def _csv_value(text: str) -> Any:
    """A CSV parameter cell as a number or boolean where it reads as one."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def fold_csv_row(row: dict[str, str], *, typed: bool = True) -> dict[str, Any]:
    """Turn a CSV row into a record: ``parameters-<name>`` columns fold into ``parameters``.

    Missing cells (empty, ``NaN``, ``None``, ``null``... as pandas reads them) are left out,
    so a column that some rows do not use adds nothing to them. ``typed=False`` keeps the
    parameters as text (the reader types them by column, as pandas does).
    """
    record: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    for column, cell in row.items():
        if column is None or cell is None or is_missing(cell):
            continue
        if column.startswith(_PARAM_PREFIX):
            name = column.removeprefix(_PARAM_PREFIX)
            parameters[name] = _csv_value(cell) if typed else cell
        else:
            record[column] = cell
    if parameters:
        record["parameters"] = parameters
    return record


def _csv_records(path: Path) -> Iterator[PromptRecord]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        start = 2
        try:
            for row in reader:
                if None in row:
                    raise BadInputError(
                        f"{path}:{start}: this row has more cells than the header has columns"
                    )
                if any(v for v in row.values()):
                    yield PromptRecord(fold_csv_row(row, typed=False), str(path), start)
                start = reader.line_num + 1
        except csv.Error as exc:
            raise BadInputError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None


def iter_records(path: Path) -> Iterator[PromptRecord]:
    """Stream the records of an experiment file, each with its line number.

    Raises:
        BadInputError: the file is missing, has another extension, or a line is unreadable.
    """
    check_experiment_path(path)
    if path.suffix == ".jsonl":
        yield from _jsonl_records(path)
    else:
        # Typed by column as prompto's pandas reader does (so the whole file is read first).
        yield from typed_csv_records(_csv_records(path))


def read_records(path: Path) -> list[PromptRecord]:
    """All records of an experiment file (see :func:`iter_records`)."""
    records = list(iter_records(path))
    if not records:
        raise BadInputError(f"{path}: the experiment file holds no records")
    return records
