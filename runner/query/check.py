"""The statement check, second line of defence of a read-only query: :func:`check_read_only`.

The connection itself is the first (see :func:`runner.index.db.read_connection`): it cannot
write or reach a file whatever runs on it. This check refuses what would try, with a message
that says what to do instead, before anything runs: statements that write, ``EXPLAIN
ANALYZE`` of one (it runs its statement), PRAGMAs that change settings or read files, and
``SET`` of anything but a few session settings.
"""

from __future__ import annotations

import re

import duckdb

from runner.index.db import QUERY_SETTINGS
from runner.index.errors import QueryError, ReadOnlyQueryError

# Statement types that only read; SHOW, DESCRIBE, SUMMARIZE, FROM and VALUES parse as SELECT.
_READING = frozenset(
    {
        duckdb.StatementType.SELECT,
        duckdb.StatementType.EXPLAIN,
        duckdb.StatementType.PRAGMA,
        duckdb.StatementType.CALL,
        duckdb.StatementType.SET,
    }
)

# PRAGMAs that only describe the database; the others change settings or read files.
_READING_PRAGMAS = frozenset(
    {
        "table_info",
        "show",
        "show_tables",
        "show_tables_expanded",
        "show_databases",
        "database_list",
        "database_size",
        "storage_info",
        "metadata_info",
        "functions",
        "collations",
        "version",
        "platform",
        "user_agent",
    }
)

_EXPLAIN = re.compile(r"\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)
_PRAGMA = re.compile(r"\s*PRAGMA\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(|;|$)", re.IGNORECASE)
_SET = re.compile(
    r"\s*SET\s+(?:SESSION\s+|LOCAL\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:=|\bTO\b)\s*"
    r"(?:'((?:[^']|'')*)'|([A-Za-z0-9_.+-]+))\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def first_line(exc: BaseException) -> str:
    """DuckDB's message on one line, without its drawing of where the error is."""
    text = str(exc).strip().split("\n\nLINE ", 1)[0]
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def refuse(what: str) -> ReadOnlyQueryError:
    """The error for a statement that would write or reach outside the index."""
    return ReadOnlyQueryError(
        f"refused: {what}, and queries are read-only. The index is rebuilt from the JSONL "
        "files with `python -m runner.index`; to save a result use --out FILE instead of COPY."
    )


def parse(sql: str) -> list[duckdb.Statement]:
    """DuckDB's statements of ``sql``.

    Raises:
        QueryError: the SQL does not parse (DuckDB's message).
    """
    try:
        return list(duckdb.extract_statements(sql))
    except duckdb.Error as exc:
        raise QueryError(first_line(exc)) from None


def check_read_only(sql: str) -> list[duckdb.Statement]:
    """Parse ``sql`` and refuse any statement that would change the database or reach a file.

    Raises:
        QueryError: the SQL does not parse (DuckDB's message).
        ReadOnlyQueryError: a statement would write.
    """
    statements = parse(sql)
    if not statements:
        raise QueryError("no SQL statement given; try: SELECT * FROM runs")
    for statement in statements:
        _check_one(statement)
    return statements


def _check_one(statement: duckdb.Statement) -> None:
    """Refuse ``statement`` unless it only reads."""
    kind = statement.type
    if kind not in _READING:
        raise refuse(f"{kind.name} would change the database")
    if kind == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs its statement: a COPY inside it writes all the same.
        match = _EXPLAIN.match(statement.query)
        inner = parse(statement.query[match.end() :]) if match else []
        if len(inner) != 1:
            raise refuse("EXPLAIN of this statement cannot be checked")
        _check_one(inner[0])
    elif kind == duckdb.StatementType.PRAGMA:
        match = _PRAGMA.match(statement.query)
        if match is None or match.group(1).lower() not in _READING_PRAGMAS:
            raise refuse("this PRAGMA changes settings or reads files")
    elif kind == duckdb.StatementType.SET:
        setting(statement)


def _allowed() -> str:
    return ", ".join(sorted(QUERY_SETTINGS))


def setting(statement: duckdb.Statement) -> tuple[str, str]:
    """The (name, value) a ``SET`` statement gives; refused unless a query may change it.

    Raises:
        ReadOnlyQueryError: not a ``SET name = value`` of a session setting.
    """
    match = _SET.match(statement.query)
    if match is None:
        raise ReadOnlyQueryError(
            "refused: only SET name = 'value' can be used in a query (settings are locked); "
            f"these may be set: {_allowed()}."
        )
    name = match.group(1)
    if name.lower() not in QUERY_SETTINGS:
        raise ReadOnlyQueryError(
            f"refused: SET {name} is not allowed in a query (settings are locked); "
            f"these may be set: {_allowed()}."
        )
    quoted = match.group(2)
    return name, quoted.replace("''", "'") if quoted is not None else match.group(3)


def split_settings(
    statements: list[duckdb.Statement],
) -> tuple[dict[str, str], list[duckdb.Statement]]:
    """The session settings the SETs among ``statements`` ask for, and the other statements.

    The settings are applied when the connection opens, before it is sealed, so they hold for
    the whole query (the last SET of a name wins).
    """
    settings: dict[str, str] = {}
    rest: list[duckdb.Statement] = []
    for statement in statements:
        if statement.type == duckdb.StatementType.SET:
            name, value = setting(statement)
            settings[name] = value
        else:
            rest.append(statement)
    return settings, rest
