"""JSON on the wire (request bodies, answers), through orjson.

Every prompt's request is encoded and its answer parsed once; orjson does both several
times faster than the standard library (about 20 µs less per prompt). Whatever orjson
refuses and the standard library takes (integers beyond 64 bits, keys that are not
strings, half characters, ``NaN`` in an answer) goes to the standard library, so nothing
that worked before fails now. Only for the wire: orjson reads integers beyond 64 bits as
floats, so the user's own records (the plan's spool) keep the standard library, and
result lines keep its layout (see runner.output.writer): their text is what users read.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """``value`` as JSON text (compact; the standard library's own layout if orjson refuses)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value)  # what aiohttp sends by default


def loads(raw: bytes | str) -> Any:
    """The value of JSON text (bytes are read as UTF-8).

    Raises:
        json.JSONDecodeError: the text is not JSON.
        UnicodeDecodeError: the bytes are not UTF-8.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
