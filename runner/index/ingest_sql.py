"""The SQL of one ingest batch: discover its keys, add or widen columns, insert its rows."""

from __future__ import annotations

import glob
from dataclasses import dataclass

import duckdb
from loguru import logger

from runner.index import schema
from runner.index.scan import Slice
from runner.index.state import forget_rows, mark_files

# The key the discovery query reports non-object lines under (no JSON key can hold NUL here).
NOT_OBJECT = "\x00"


def as_written(paths: list[str]) -> list[str]:
    """``paths`` as DuckDB's readers take them: ``[``, ``*`` and ``?`` meant as written.

    DuckDB globs every path it reads: the run folder of experiment ``a[1]`` was read as
    ``a1``'s (its results went under a1, twice), and ``st*r`` matched ``start`` too.
    """
    return [glob.escape(path) for path in paths]


_DISCOVER = f"""
WITH src AS (
    SELECT json, json_keys(json) AS ks
    FROM read_json_objects($files, format = 'newline_delimited',
                           maximum_object_size = $max_object)
), keyed AS (
    SELECT json, unnest(CASE WHEN len(ks) = 0 AND json_type(json) <> 'OBJECT'
                             THEN ['{NOT_OBJECT}'] ELSE ks END) AS key
    FROM src
)
SELECT key, list(DISTINCT CASE WHEN NOT list_contains($untyped, key) THEN
           json_type(json, '/' || replace(replace(key, '~', '~0'), '/', '~1')) END)
FROM keyed GROUP BY key
"""


@dataclass
class Source:
    """A slice and the file DuckDB reads it from (the original, or a copy of its new bytes)."""

    slice: Slice
    read_path: str
    cleaned: bool = False
    # The longest line, once measured (a read failed on it); 0 while unknown.
    longest: int = 0


def _cast(expr: str, sql_type: str) -> str:
    """SQL reading a value of ``sql_type`` from the text ``json_extract_string`` gave."""
    if sql_type == "VARCHAR":
        return expr
    # TRY_CAST: a record with a wrong-typed field gets NULL there, it does not stop the index.
    return f"TRY_CAST({expr} AS {sql_type})"


def discover(
    con: duckdb.DuckDBPyConnection, files: list[str], max_object: int
) -> dict[str, list[str]]:
    """Every key in ``files`` with the JSON types of the values user keys hold."""
    current = schema.response_columns(con)
    untyped = sorted(schema.FIXED_KEYS | {k for k, t in current.items() if t == "VARCHAR"})
    params = {"files": as_written(files), "untyped": untyped, "max_object": max_object}
    rows = con.execute(_DISCOVER, params).fetchall()
    return {str(k): [str(t) for t in types if t is not None] for k, types in rows}


def files_with_non_objects(
    con: duckdb.DuckDBPyConnection, sources: list[Source], max_object: int
) -> list[Source]:
    """The sources holding a line that is valid JSON but not an object."""
    rows = con.execute(
        "SELECT DISTINCT filename FROM read_json_objects($files, "
        "format = 'newline_delimited', filename = true, maximum_object_size = $max_object) "
        "WHERE json_type(json) <> 'OBJECT'",
        {"files": as_written([s.read_path for s in sources]), "max_object": max_object},
    ).fetchall()
    named = {str(r[0]) for r in rows}
    return [s for s in sources if s.read_path in named]


def _plan_columns(con: duckdb.DuckDBPyConnection, found: dict[str, list[str]]) -> list[str]:
    """Add or widen a column for each user key; returns the user keys to insert."""
    current = schema.response_columns(con)
    by_lower = {name.lower(): name for name in current}
    extras: list[str] = []
    for key, types in sorted(found.items()):
        if key in schema.FIXED_KEYS or key == NOT_OBJECT:
            continue
        low = key.lower()
        if low in schema.RESERVED_NAMES or by_lower.get(low, key) != key:
            continue  # clashes with a runner column or another key's case: in record only
        old = current.get(key)
        new = schema.widen(old, types)
        if new is None:
            continue  # only nulls so far; rows without the column read NULL anyway
        if old is None:
            logger.debug("results index: new column responses.{} ({})", key, new)
            con.execute(f"ALTER TABLE responses ADD COLUMN {schema.quote(key)} {new}")
            by_lower[low] = key
        elif new != old:
            logger.debug("results index: column responses.{} widened {} -> {}", key, old, new)
            con.execute(f"ALTER TABLE responses ALTER COLUMN {schema.quote(key)} TYPE {new}")
        current[key] = new
        extras.append(key)
    return extras


def insert(
    con: duckdb.DuckDBPyConnection,
    sources: list[Source],
    found: dict[str, list[str]],
    max_object: int,
) -> int:
    """Insert every line of ``sources`` and record how far each file is indexed."""
    forget_rows(con, [s.slice.rel for s in sources if s.slice.reset])
    extras = _plan_columns(con, found)
    current = schema.response_columns(con)
    pointers = [c.pointer for c in schema.RESPONSE_COLUMNS] + [schema.pointer(k) for k in extras]
    names: list[str] = []
    exprs: list[str] = []
    for i, col in enumerate(schema.RESPONSE_COLUMNS, start=1):
        names.append(col.name)
        expr = _cast(f"v[{i}]", col.sql_type)
        if col.name in ("run_id", "experiment"):
            expr = f"coalesce({expr}, dir_{col.name})"  # the folder knows them too
        elif col.name == "cached":
            expr = f"coalesce({expr}, false)"  # a result line leaves out cached: false
        exprs.append(expr)
    names += ["record", "source_file"]
    exprs += ["json", "source_file"]
    for i, key in enumerate(extras, start=len(schema.RESPONSE_COLUMNS) + 1):
        names.append(key)
        exprs.append(_cast(f"v[{i}]", current[key]))
    sql = f"""
        INSERT INTO responses ({", ".join(schema.quote(n) for n in names)})
        SELECT {", ".join(exprs)} FROM (
            SELECT s.json, m.source_file, m.dir_run_id, m.dir_experiment,
                   json_extract_string(s.json, $pointers) AS v
            FROM read_json_objects($patterns, format = 'newline_delimited', filename = true,
                                   maximum_object_size = $max_object) s
            JOIN (SELECT unnest($files) AS read_path, unnest($rels) AS source_file,
                         unnest($run_ids) AS dir_run_id, unnest($exps) AS dir_experiment) m
              ON s.filename = m.read_path
        )"""
    params = {
        "max_object": max_object,
        "pointers": pointers,
        "files": [s.read_path for s in sources],
        "patterns": as_written([s.read_path for s in sources]),
        "rels": [s.slice.rel for s in sources],
        "run_ids": [s.slice.run.run_id for s in sources],
        "exps": [s.slice.run.experiment for s in sources],
    }
    row = con.execute(sql, params).fetchone()
    mark_files(con, [s.slice for s in sources])
    return int(row[0]) if row else 0
