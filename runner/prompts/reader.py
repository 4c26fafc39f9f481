"""Read experiment files (prompto's JSONL and CSV formats) into records, line by line."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from runner.errors import BadInputError
from runner.prompts.csv_types import is_missing, typed_csv_records
from runner.prompts.records import PromptRecord
from runner.wire_json import loads_exact

SUFFIXES = (".jsonl", ".csv")
_PARAM_PREFIX = "parameters-"

# Receives a problem of the file (already prefixed with file:line).
ProblemSink = Callable[[str], None]


def check_experiment_path(path: Path) -> None:
    """Fail with a clear message when ``path`` cannot be an experiment file.

    Raises:
        BadInputError: a missing file or an extension other than .jsonl or .csv.
    """
    if path.suffix not in SUFFIXES:
        raise BadInputError(
            f"{path}: experiment files must end in .jsonl or .csv, not {path.suffix or '(none)'!r}"
        )
    if path.exists() and not path.is_file():  # a pipe would be waited on, a device read
        raise BadInputError(f"{path}: not a regular file (a folder, a device or a pipe)")
    if not path.is_file():
        raise BadInputError(f"{path}: no such experiment file; check experiments_dir and the name")


_BOM = b"\xef\xbb\xbf"


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The lines of ``path`` as text, each checked to be UTF-8 (a leading BOM is dropped).

    Lines keep their line ending, as ``open(newline="")`` gives them (what csv expects).

    Raises:
        BadInputError: a line is not valid UTF-8; the message names the line and byte offset.
    """
    offset = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            body = raw.removeprefix(_BOM) if number == 1 else raw
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                at = offset + (len(raw) - len(body)) + exc.start
                raise BadInputError(
                    f"{path}:{number}: not valid UTF-8 (byte 0x{body[exc.start]:02x} at byte "
                    f"offset {at} of the file, byte {exc.start + 1} of the line); "
                    "save the file as UTF-8"
                ) from None
            offset += len(raw)
            yield number, text


def _report(problem: str, on_problem: ProblemSink | None) -> None:
    """Hand an unreadable line to ``on_problem``, or stop reading when there is none."""
    if on_problem is None:
        raise BadInputError(problem)
    on_problem(problem)


def _jsonl_records(path: Path, on_problem: ProblemSink | None) -> Iterator[PromptRecord]:
    for number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            data = loads_exact(line)
        except json.JSONDecodeError as exc:
            _report(f"{path}:{number}: {_json_problem(exc, line)}", on_problem)
            continue
        if not isinstance(data, dict):
            _report(
                f"{path}:{number}: a line must be a JSON object, got {type(data).__name__}",
                on_problem,
            )
            continue
        if "\\ud" in line or "\\uD" in line:  # no lowered copy of every line
            _check_no_lone_surrogate(path, number, data)
        problem = value_problem(line, data)
        if problem:
            _report(f"{path}:{number}: {problem}", on_problem)
            continue
        yield PromptRecord(data, str(path), number)


def _json_problem(exc: json.JSONDecodeError, line: str) -> str:
    """A line that is no JSON, said in the user's terms where the parser's are Python's."""
    if line.startswith("\ufeff"):  # "Unexpected UTF-8 BOM (decode using utf-8-sig)"
        return "a byte-order mark (U+FEFF) starts this line; only the file's first may"
    said = (
        f"not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno}); "
        "each line must be one JSON object"
    )
    # Old Mac line ends (a lone \r) are no line end here: records run together.
    if "\r" in line.rstrip("\r\n"):
        said += "; this line holds a lone \\r: end lines with \\n"
    return said


# Deeper than this, a record cannot be written as a result line (orjson stops at 255
# levels; the standard library's fallback ran out of stack): "unexpected RecursionError".
MAX_DEPTH = 200


def value_problem(line: str, data: Any) -> str | None:
    """What no API or result line can hold in a parsed line: NaN, infinity, deep nesting."""
    if line.count("[") + line.count("{") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels (lists and objects); flatten it"
    field = not_finite(data) if MAYBE_NOT_FINITE.search(line) else None
    return None if field is None else not_finite_problem(field)


def _depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


# How a number JSON cannot send is spelled: NaN, Infinity, or an exponent past a double's.
MAYBE_NOT_FINITE = re.compile(r"NaN|Infinity|[0-9][eE]\+?[0-9]{3}")


def not_finite(value: Any, where: str = "") -> str | None:
    """The field of ``value`` holding NaN or an infinity (``parameters.stop[1]``), or None.

    Python's JSON reader takes ``NaN``, ``Infinity`` and ``1e999``; no API does, and a
    result line writes them as null: ``temperature: 1e999`` was sent as ``null``, silently.
    """
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    items: Any = ()
    if isinstance(value, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    for field, item in items:
        found = not_finite(item, field)
        if found is not None:
            return found
    return None


def not_finite_problem(field: str) -> str:
    """The problem of a line whose ``field`` is NaN or infinite."""
    return (
        f"field {field!r} is NaN or infinite (NaN, Infinity, 1e999): JSON has no "
        "such number (it would be sent and written as null); give a finite number"
    )


def _check_no_lone_surrogate(path: Path, number: int, data: dict[str, Any]) -> None:
    """A ``\\ud800``-style escape without its pair is no character: no API, no file takes it."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadInputError(
            f"{path}:{number}: a \\u escape stands for half a character "
            f"({exc.object[exc.start : exc.end]!r} without its pair); fix or remove it"
        ) from None


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


# The csv module refuses a cell over 128 KiB ("field larger than field limit"): a long
# document as a prompt, which prompto's pandas reader takes. A cell may be up to 2 GiB.
CSV_CELL_LIMIT = 2**31 - 1


def csv_rows(path: Path) -> csv.DictReader[str]:
    """A strict reader of ``path``'s rows: a quote left open or standing after a closing
    quote is an error, not a cell that silently swallows the rows after it."""
    if csv.field_size_limit() < CSV_CELL_LIMIT:
        csv.field_size_limit(CSV_CELL_LIMIT)
    return csv.DictReader((text for _n, text in text_lines(path)), strict=True)


def _csv_records(path: Path, on_problem: ProblemSink | None) -> Iterator[PromptRecord]:
    reader = csv_rows(path)
    start = 2
    try:
        _check_header(path, reader.fieldnames or [])
        for row in reader:
            if None in row:
                _report(
                    f"{path}:{start}: this row has more cells than the header has columns",
                    on_problem,
                )
            elif any(v for v in row.values()):
                yield PromptRecord(fold_csv_row(row, typed=False), str(path), start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise BadInputError(_csv_problem(path, start, reader.line_num, str(exc))) from None


def _check_header(path: Path, columns: Sequence[str]) -> None:
    """A column named twice: the row's last cell won, silently (pandas keeps both)."""
    seen: set[str] = set()
    for number, column in enumerate(columns, start=1):
        if column in seen and column.strip():  # unnamed columns (a spreadsheet's ",,") aside
            raise BadInputError(
                f"{path}:1: column {number} is named {column!r} again; each column needs its "
                "own name (only one of the two would be read)"
            )
        seen.add(column)


def _csv_problem(path: Path, start: int, end: int, error: str) -> str:
    where = f"{path}:{start}" if end <= start else f"{path}:{start} (read on to line {end})"
    if "unexpected end of data" in error or "expected after" in error:
        return (
            f"{where}: a quote in this row is never closed, or stands inside a cell "
            f'({error}); quote a whole cell and double any quote inside it ("")'
        )
    return f"{where}: unreadable CSV ({error})"


def iter_records(path: Path, on_problem: ProblemSink | None = None) -> Iterator[PromptRecord]:
    """Stream the records of an experiment file, each with its line number.

    Args:
        path: the experiment file.
        on_problem: gets each unreadable line (prefixed with file:line), which is skipped,
            so one pass finds them all; without it the first one raises.

    Raises:
        BadInputError: the file is missing or has another extension; a line is unreadable
            and there is no ``on_problem``; the CSV cannot be parsed past a point.
    """
    check_experiment_path(path)
    if path.suffix == ".jsonl":
        yield from _jsonl_records(path, on_problem)
    else:
        # Typed by column as prompto's pandas reader does (so the whole file is read first).
        for record in typed_csv_records(_csv_records(path, on_problem)):
            field = not_finite(record.data)  # a cell 'inf' or '1e999' types as a float
            if field is not None:
                _report(f"{record.where}: {not_finite_problem(field)}", on_problem)
                continue
            yield record


def read_records(path: Path) -> list[PromptRecord]:
    """All records of an experiment file (see :func:`iter_records`)."""
    records = list(iter_records(path))
    if not records:
        raise BadInputError(f"{path}: the experiment file holds no records")
    return records
