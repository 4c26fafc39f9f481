"""JSON through orjson wherever it gives what the standard library gives; the rest, stdlib.

Every prompt is parsed from the experiment, spooled, sent, answered and written as a
result line: five JSON steps a prompt, each several times faster in orjson (about 15 µs a
prompt in all). Where the two differ, the standard library's answer is the one kept:

- Reading (:func:`loads`, :func:`loads_exact`): orjson refuses ``NaN``, ``Infinity`` and
  half characters, which the standard library reads: those texts go to it. orjson reads
  integers beyond 64 bits as floats, so text with such a long run of digits goes to the
  standard library too (:func:`loads_exact`, for the user's own records; answers from an
  API go through :func:`loads`).
- Writing (:func:`dumps`, :func:`json_line`): whatever orjson refuses (integers beyond
  64 bits, keys that are not strings, half characters) is written by the standard library.
  JSON has no ``NaN`` or infinity: orjson writes them as ``null``, as every strict JSON
  reader (DuckDB, ``jq``, a browser) needs; the standard library's ``NaN`` made a line that
  DuckDB's reader refused, so the index and report lost it.

Result lines are compact (``{"a":1}``, no spaces after separators).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

# 19 digits in a row may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")
# Result lines: values orjson has no type for are written as their str(), as the standard
# library's ``default=str`` did; datetimes and dataclasses too (orjson has its own forms).
_LINE_OPTIONS = (
    orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
_LINE_FALLBACK = json.JSONEncoder(ensure_ascii=False, default=str)


def dumps(value: Any) -> str:
    """``value`` as JSON text (compact; the standard library's own layout if orjson refuses)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value)  # what aiohttp sends by default


def dumps_bytes(value: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes, the request body as sent (no decode and re-encode)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def std_loads(text: bytes | str) -> Any:
    """The standard library's value of ``text``; what it cannot hold is not JSON either.

    Text nested deeper than the interpreter's recursion limit (about 1,000 levels), or with
    an integer of more than 4,300 digits, made ``json.loads`` raise ``RecursionError`` or a
    plain ``ValueError``: a model's answer of ``[[[[...`` stopped a whole run.

    Raises:
        json.JSONDecodeError: the text is not JSON, or is nested or sized beyond reading.
        UnicodeDecodeError: the bytes are not UTF-8.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        problem = "nested more than about 1,000 levels deep"
    except ValueError as exc:
        if "digits" not in str(exc):
            raise
        problem = "an integer has more than 4,300 digits"
    shown = text if isinstance(text, str) else text.decode("utf-8", "replace")
    raise json.JSONDecodeError(problem, shown, 0) from None


def loads(raw: bytes | str) -> Any:
    """The value of JSON text from an API (bytes are read as UTF-8).

    Raises:
        json.JSONDecodeError: the text is not JSON.
        UnicodeDecodeError: the bytes are not UTF-8.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return std_loads(raw)


def loads_exact(text: str | bytes) -> Any:
    """The value the standard library reads from ``text``, integers beyond 64 bits included.

    Raises:
        json.JSONDecodeError: the text is not JSON (the standard library's message).
    """
    long = _LONG_DIGITS.search(text) if isinstance(text, str) else _LONG_DIGITS_BYTES.search(text)
    if long is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # NaN, a half character, or not JSON: the standard library says which
    return std_loads(text)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None, as orjson writes them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# A result line holds lists and objects this deep; deeper parts of an answer (a tool call's
# arguments, a parsed answer) are cut to a note: 500 levels stopped the whole run.
MAX_LINE_DEPTH = 200
CUT = "(nested deeper than 200 levels: cut)"


def _cut(value: Any, room: int) -> Any:
    """``value`` with lists and objects below ``room`` levels replaced by :data:`CUT`."""
    if isinstance(value, dict | list | tuple) and room <= 0:
        return CUT
    if isinstance(value, dict):
        return {k: _cut(v, room - 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cut(v, room - 1) for v in value]
    return value


def spool_line(value: Any) -> bytes:
    """``value`` as a line :func:`spool_value` reads back exactly (tagged by its writer).

    orjson reads its own output back exactly: only a line the standard library wrote (an
    integer beyond 64 bits) needs the standard library again, and no line needs a search.
    """
    try:
        return b"o" + orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return b"j" + json_line(value)


def spool_value(line: bytes) -> Any:
    """The value of a line :func:`spool_line` wrote."""
    return orjson.loads(line[1:]) if line[:1] == b"o" else json.loads(line[1:])


def json_line(value: Any) -> bytes:
    """``value`` as one UTF-8 line of JSON, ending in a newline.

    Never fails on a value of the run's own: what orjson refuses goes to the standard
    library, a half character (a lone surrogate in an API's answer) becomes U+FFFD, and
    lists and objects nested past :data:`MAX_LINE_DEPTH` are cut to :data:`CUT`.
    """
    try:
        return orjson.dumps(value, default=str, option=_LINE_OPTIONS)
    except TypeError as exc:
        if "Recursion limit" in str(exc):  # orjson's, past 255 levels
            value = _cut(value, MAX_LINE_DEPTH)
        text = _LINE_FALLBACK.encode(_finite(value)) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()
