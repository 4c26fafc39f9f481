"""The columns of ``responses``: each read from a JSONL record; a user key's typed from its values.

``responses`` starts with the fixed columns below; every other key a record carries becomes a
column the first time it is seen, typed from its values and widened when a later experiment
disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A fixed ``responses`` column: its SQL type and the JSON pointer it is read from."""

    name: str
    sql_type: str
    pointer: str


# Text columns hold a string as is and anything else (a list of turns, a chat) as JSON text.
RESPONSE_COLUMNS: tuple[Column, ...] = (
    Column("run_id", "VARCHAR", "/run_id"),
    Column("experiment", "VARCHAR", "/experiment"),
    Column("prompt_key", "VARCHAR", "/prompt_key"),
    Column("line", "BIGINT", "/line"),
    Column("id", "VARCHAR", "/id"),
    Column("prompt", "VARCHAR", "/prompt"),
    Column("api", "VARCHAR", "/api"),
    Column("model_name", "VARCHAR", "/model_name"),
    Column("parameters", "JSON", "/parameters"),
    Column("group", "VARCHAR", "/group"),
    Column("expected_response", "VARCHAR", "/expected_response"),
    Column("response", "VARCHAR", "/response"),
    Column("status", "VARCHAR", "/status"),
    Column("error", "VARCHAR", "/error"),
    Column("error_kind", "VARCHAR", "/error_kind"),
    Column("attempts", "BIGINT", "/attempts"),
    Column("timestamp_sent", "TIMESTAMPTZ", "/timestamp_sent"),
    Column("timestamp_received", "TIMESTAMPTZ", "/timestamp_received"),
    Column("latency_s", "DOUBLE", "/latency_s"),
    Column("input_tokens", "BIGINT", "/usage/input_tokens"),
    Column("output_tokens", "BIGINT", "/usage/output_tokens"),
    Column("finish_reason", "VARCHAR", "/finish_reason"),
    Column("response_model", "VARCHAR", "/response_model"),
    Column("rate_group", "VARCHAR", "/rate_group"),
    Column("cost_usd", "DOUBLE", "/cost_usd"),
    Column("cached", "BOOLEAN", "/cached"),
    # NULL when the answer had none (most lines carry neither key).
    Column("thinking", "VARCHAR", "/thinking"),
    Column("tool_calls", "JSON", "/tool_calls"),
    # output_schema: the answer as parsed JSON (query it: parsed->>'$.name').
    Column("parsed", "JSON", "/parsed"),
    Column("cached_input_tokens", "BIGINT", "/usage/cached_input_tokens"),
    Column("cache_write_tokens", "BIGINT", "/usage/cache_write_tokens"),
    Column("reasoning_tokens", "BIGINT", "/usage/reasoning_tokens"),
    # A template experiment's prompt variant (runner.prompts.expand); null for a file's.
    Column("prompt_variant", "VARCHAR", "/prompt_variant"),
)
# Columns the indexer adds itself, after the fixed ones and before any user key. The whole
# record is the bulk of the data and repeats itself line after line: zstd stores it in a tenth
# of the space and three times faster than DuckDB's default choice for text.
# mean_score: the mean of the response's evaluation scores (runner.index.scores keeps it).
BOOKKEEPING_COLUMNS = (
    ("record", "JSON USING COMPRESSION zstd"),
    ("source_file", "VARCHAR"),
    ("mean_score", "DOUBLE"),
)
# JSON keys consumed by the fixed columns (``usage`` is split into the token columns).
FIXED_KEYS = frozenset({c.pointer.split("/")[1] for c in RESPONSE_COLUMNS})
# A user key whose lower-cased name is one of these gets no column of its own (DuckDB names
# are case-insensitive): it stays readable in ``record``.
RESERVED_NAMES = frozenset(
    {c.name.lower() for c in RESPONSE_COLUMNS}
    | {name for name, _ in BOOKKEEPING_COLUMNS}
    | {"usage"}
)
# What json_type() reports, mapped to the column type that holds it.
_JSON_TO_SQL = {
    "BOOLEAN": "BOOLEAN",
    "BIGINT": "BIGINT",
    "UBIGINT": "BIGINT",
    "DOUBLE": "DOUBLE",
    "VARCHAR": "VARCHAR",
    "ARRAY": "JSON",
    "OBJECT": "JSON",
}


def quote(name: str) -> str:
    """Quote an SQL identifier (user keys may hold spaces, quotes or reserved words)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def pointer(key: str) -> str:
    """The JSON pointer (RFC 6901) of a top-level key; unlike JSONPath it escapes anything."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def widen(current: str | None, json_types: list[str]) -> str | None:
    """The narrowest column type holding ``current``'s values and values of ``json_types``.

    Integers and floats meet in DOUBLE; any other disagreement falls back to VARCHAR, which
    can hold every value as text. None means no non-null value was seen yet.
    """
    kinds = {_JSON_TO_SQL.get(t, "VARCHAR") for t in json_types if t != "NULL"}
    if current is not None:
        kinds.add(current)
    if not kinds:
        return None
    if len(kinds) == 1:
        return kinds.pop()
    if kinds == {"BIGINT", "DOUBLE"}:
        return "DOUBLE"
    return "VARCHAR"
