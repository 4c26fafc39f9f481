"""The slow, careful path: judging JSONL lines one by one in Python.

Only files DuckDB refused come here, so the cost of ``json.loads`` per line is paid for the
few files that need a line number in a report, not for every line indexed.
"""

from __future__ import annotations

import json
from pathlib import Path


def line_number_at(path: Path, start: int) -> int:
    """The line number of byte ``start`` in its file (counting the newlines before it)."""
    if start == 0:
        return 1
    count = 0
    with open(path, "rb") as f:
        left = start
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count + 1


def longest_line(path: Path) -> int:
    """The length in bytes of the longest line of a file, read 1 MiB at a time."""
    longest = current = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            parts = chunk.split(b"\n")
            current += len(parts[0])
            if len(parts) > 1:
                longest = max(longest, current, *(len(p) for p in parts[1:-1]))
                current = len(parts[-1])
    return max(longest, current)


def line_problem(raw: bytes) -> str | None:
    """Why a line cannot be indexed, or None when it is a JSON object DuckDB will accept."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not valid UTF-8"
    except json.JSONDecodeError as exc:
        # Cut short: the parser ran out of text (an open string reports where it began).
        torn = exc.pos >= len(raw.rstrip()) - 1 or exc.msg.startswith("Unterminated string")
        if torn:
            return f"torn line: the JSON ends early ({exc.msg}: column {exc.colno})"
        return f"invalid JSON ({exc.msg}: column {exc.colno})"
    if not isinstance(obj, dict):
        return f"not a JSON object (a {type(obj).__name__})"
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "invalid unicode escape (a lone surrogate)"
    return None
