"""Text from data shown to a person: characters that would hide or reorder it made visible.

A bidirectional override (U+202E) in a model name shows ``gpt-4o`` where the bytes say
``o4-tpg``: one name can pass for another. An escape character (U+001B) in an answer
recolours or rewrites the terminal. Each is shown as its ``\\uXXXX`` escape instead, in the
report, the viewer and the terminal; the data on disk is never changed.
"""

from __future__ import annotations

import re

# Bidirectional embeddings, overrides, isolates and marks (LRM, RLM, ALM).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# C0 and C1 controls except tab, newline and carriage return, and DEL: a terminal acts on them.
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_HIDDEN = re.compile(f"[{_BIDI}{_CONTROLS}]")
_HIDDEN_BIDI = re.compile(f"[{_BIDI}]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def visible(text: str, *, controls: bool = True) -> str:
    """``text`` with bidirectional controls (and, with ``controls``, control characters) escaped.

    Args:
        text: what data says (a name, an answer, an error).
        controls: escape C0/C1 control characters too; off for text that carries the
            terminal's own colour codes (a formatted log line).
    """
    return (_HIDDEN if controls else _HIDDEN_BIDI).sub(_escape, text)


# A spreadsheet runs a cell starting so as a formula (=HYPERLINK(...), +cmd|' /C calc'!A0);
# OWASP's CSV-injection advice: lead such a text cell with a ' (shown, never run).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number starting with a sign is left alone: -0.5 is a value, not a formula.
NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER)
# The same rule for DuckDB (a text column ``{0}`` as the CSV export writes it).
SQL_SPREADSHEET_CELL = (
    "CASE WHEN regexp_matches({0}, '^[=+\\-@\\t\\r]') AND NOT regexp_full_match({0}, '"
    + NUMBER
    + "') THEN '''' || {0} ELSE {0} END"
)


def spreadsheet_cell(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows and never runs as a formula."""
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
