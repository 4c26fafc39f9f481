"""The tables of the results index and how each column is read from a JSONL record.

``responses`` starts with the fixed columns below; every other key a record carries (the
user's own prompt keys, which differ between experiments) becomes a column the first time it
is seen, typed from its values and widened when a later experiment disagrees. The whole record
is kept as JSON in ``record`` either way.
"""

from __future__ import annotations

import duckdb

from runner.index.columns import (
    BOOKKEEPING_COLUMNS,
    FIXED_KEYS,
    RESERVED_NAMES,
    RESPONSE_COLUMNS,
    Column,
    literal,
    pointer,
    quote,
    widen,
)
from runner.index.scores import COPY_TO_RESPONSES, SCORES_TABLE

# The columns' names are read from here by the indexer and its tests.
__all__ = [
    "BOOKKEEPING_COLUMNS",
    "FIXED_KEYS",
    "MANAGED_TABLES",
    "RESERVED_NAMES",
    "RESPONSE_COLUMNS",
    "RUN_TOKEN_COLUMNS",
    "SCHEMA_VERSION",
    "VERSION_4_RESPONSE_COLUMNS",
    "Column",
    "ensure_schema",
    "literal",
    "migrate",
    "pointer",
    "quote",
    "response_columns",
    "stored_version",
    "widen",
]

# Bump when a table changes shape: an index with another version is rebuilt from the JSONL.
# 2: runs has provenance columns; 3: cost_usd, cached; 4: cache and reasoning token counts,
# thinking, tool_calls, parsed, prompt_variant; 5: runs has sharded_run, shard, shards and
# the sharded_runs view; 6: labels (the viewer's hand labels), response_scores and
# responses.mean_score (3 to 6 migrated in place)
SCHEMA_VERSION = "6"

# Tables the indexer owns and may drop on rebuild; ``evaluations`` is filled by others.
# ``labels`` is read again from labels.jsonl.
MANAGED_TABLES = ("responses", "runs", "indexed_files", "skipped_lines", "index_meta", "labels")


# The shards of one run (runner.shards) as one row: what the run did, all shards together.
# Read from ``record``, so the view holds on an index of any version.
SHARDED_RUNS_VIEW = """CREATE OR REPLACE VIEW sharded_runs AS
    SELECT experiment, coalesce(record->>'sharded_run', run_id) AS run_id,
        count(*) AS shard_count, max(coalesce(TRY_CAST(record->>'shards' AS BIGINT), 1)) AS shards,
        CASE WHEN bool_and(status = 'finished') THEN 'finished'
             WHEN bool_or(status = 'running') THEN 'running' ELSE max(status) END AS status,
        min(started_at) AS started_at, max(finished_at) AS finished_at,
        sum(total) AS total, sum(n_ok) AS n_ok, sum(n_error) AS n_error,
        sum(TRY_CAST(record->'cost'->>'total_usd' AS DOUBLE)) AS cost_usd,
        list(run_id ORDER BY run_id) AS run_ids
    FROM runs GROUP BY experiment, coalesce(record->>'sharded_run', run_id)"""

# The newest hand label per (run, prompt), from <outputs>/labels.jsonl (runner.index.labels).
LABELS_TABLE = """CREATE TABLE IF NOT EXISTS labels (
    run_id VARCHAR, prompt_key VARCHAR, label VARCHAR, note VARCHAR, labelled_at TIMESTAMPTZ,
    PRIMARY KEY (run_id, prompt_key))"""

_DDL = (
    "CREATE TABLE IF NOT EXISTS index_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS responses ("
    + ", ".join(
        [f"{quote(c.name)} {c.sql_type}" for c in RESPONSE_COLUMNS]
        + [f"{quote(n)} {t}" for n, t in BOOKKEEPING_COLUMNS]
    )
    + ")",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR, experiment VARCHAR, status VARCHAR,
        started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, wall_time_s DOUBLE,
        total BIGINT, n_ok BIGINT, n_error BIGINT, counts JSON,
        models JSON, model_names VARCHAR[], apis VARCHAR[],
        input_file VARCHAR, groups JSON, config JSON, overrides JSON, version VARCHAR,
        run_dir VARCHAR, record JSON, indexed_at TIMESTAMPTZ,
        input_sha256 VARCHAR, git_commit VARCHAR, git_dirty BOOLEAN, host VARCHAR,
        versions JSON, cost_usd DOUBLE, cost JSON,
        input_tokens BIGINT, cached_input_tokens BIGINT, cache_write_tokens BIGINT,
        output_tokens BIGINT, reasoning_tokens BIGINT,
        sharded_run VARCHAR, shard BIGINT, shards BIGINT)""",
    SHARDED_RUNS_VIEW,
    """CREATE TABLE IF NOT EXISTS indexed_files (
        path VARCHAR PRIMARY KEY, kind VARCHAR, run_dir VARCHAR,
        bytes_indexed BIGINT, size BIGINT, mtime_ns BIGINT,
        head_len BIGINT, head_hash VARCHAR, rows BIGINT, skipped BIGINT,
        indexed_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS skipped_lines (
        file VARCHAR, line BIGINT, reason VARCHAR, found_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS evaluations (
        run_id VARCHAR, prompt_key VARCHAR, step VARCHAR, field VARCHAR,
        value VARCHAR, value_num DOUBLE, created_at TIMESTAMPTZ)""",
    LABELS_TABLE,
    SCORES_TABLE,
)


def stored_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The schema version the database was built with; None for a new or foreign file."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'index_meta'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute("SELECT value FROM index_meta WHERE key = 'schema_version'").fetchone()
    return str(row[0]) if row else None


# The token totals of a run (run.json's cost.tokens), one column each in ``runs``.
# The responses columns version 4 added (a user key of one of these names forces a rebuild).
VERSION_4_RESPONSE_COLUMNS = (
    "thinking",
    "tool_calls",
    "parsed",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "prompt_variant",
)

RUN_TOKEN_COLUMNS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)

# In-place migrations: from a version to the next, statements that keep every row (and the
# evaluations table, which a rebuild would lose). New columns go last, as ALTER puts them.
# runs holds no user keys, so its columns are added IF NOT EXISTS: an index that already
# has a later version's runs columns still migrates.
MIGRATIONS = {
    "2": (
        "ALTER TABLE responses ADD COLUMN cost_usd DOUBLE",
        "UPDATE responses SET cost_usd = TRY_CAST(record->>'cost_usd' AS DOUBLE)",
        "ALTER TABLE responses ADD COLUMN cached BOOLEAN",
        "UPDATE responses SET cached = TRY_CAST(record->>'cached' AS BOOLEAN)",
        "ALTER TABLE runs ADD COLUMN IF NOT EXISTS cost_usd DOUBLE",
        "ALTER TABLE runs ADD COLUMN IF NOT EXISTS cost JSON",
        "UPDATE runs SET cost_usd = TRY_CAST(record->'cost'->>'total_usd' AS DOUBLE), "
        "cost = nullif(record->'cost', 'null'::JSON)",
    ),
    "3": (
        "ALTER TABLE responses ADD COLUMN thinking VARCHAR",
        "ALTER TABLE responses ADD COLUMN tool_calls JSON",
        "ALTER TABLE responses ADD COLUMN parsed JSON",
        # As ingest reads them (a list of turns' thinking is kept as its JSON text).
        "UPDATE responses SET thinking = json_extract_string(record, '/thinking'), "
        "tool_calls = TRY_CAST(json_extract_string(record, '/tool_calls') AS JSON), "
        "parsed = nullif(record->'parsed', 'null'::JSON)",
        # A template run's variant (runner.prompts.expand); null for a file's.
        "ALTER TABLE responses ADD COLUMN prompt_variant VARCHAR",
        "UPDATE responses SET prompt_variant = record->>'prompt_variant'",
        *(
            f"ALTER TABLE responses ADD COLUMN {name} BIGINT"
            for name in ("cached_input_tokens", "cache_write_tokens", "reasoning_tokens")
        ),
        "UPDATE responses SET "
        "cached_input_tokens = TRY_CAST(record->'usage'->>'cached_input_tokens' AS BIGINT), "
        "cache_write_tokens = TRY_CAST(record->'usage'->>'cache_write_tokens' AS BIGINT), "
        "reasoning_tokens = TRY_CAST(record->'usage'->>'reasoning_tokens' AS BIGINT)",
        *(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {name} BIGINT" for name in RUN_TOKEN_COLUMNS),
        "UPDATE runs SET "
        + ", ".join(
            f"{name} = TRY_CAST(record->'cost'->'tokens'->>'{name}' AS BIGINT)"
            for name in RUN_TOKEN_COLUMNS
        ),
    ),
    "4": (
        "ALTER TABLE runs ADD COLUMN IF NOT EXISTS sharded_run VARCHAR",
        "ALTER TABLE runs ADD COLUMN IF NOT EXISTS shard BIGINT",
        "ALTER TABLE runs ADD COLUMN IF NOT EXISTS shards BIGINT",
        "UPDATE runs SET sharded_run = record->>'sharded_run', "
        "shard = TRY_CAST(record->>'shard' AS BIGINT), "
        "shards = TRY_CAST(record->>'shards' AS BIGINT)",
        SHARDED_RUNS_VIEW,
    ),
    # Filled from labels.jsonl by the update that follows the migration.
    "5": (
        LABELS_TABLE,
        SCORES_TABLE,
        "DELETE FROM response_scores",
        "INSERT INTO response_scores SELECT run_id, prompt_key, avg(value_num) FROM evaluations "
        "WHERE field = 'score' AND value_num IS NOT NULL GROUP BY ALL",
        "ALTER TABLE responses ADD COLUMN mean_score DOUBLE",
        COPY_TO_RESPONSES.format(where=""),
    ),
}


def migrate(con: duckdb.DuckDBPyConnection, version: str | None) -> bool:
    """Bring an index of an older ``version`` to this one in place; False: it needs a rebuild.

    A user key that already took a new column's name (``cost_usd`` in an old experiment)
    cannot be migrated: that index is rebuilt from the JSONL instead.
    """
    taken = {c.lower() for c in response_columns(con)}
    while version in MIGRATIONS:
        if version == "2" and taken & {"cost_usd", "cached"}:
            return False
        if version == "3" and taken & set(VERSION_4_RESPONSE_COLUMNS):
            return False
        if version == "5" and "mean_score" in taken:
            return False
        con.execute("BEGIN")
        try:
            for statement in MIGRATIONS[version]:
                con.execute(statement)
            version = str(int(version) + 1)
            con.execute("UPDATE index_meta SET value = ? WHERE key = 'schema_version'", [version])
            con.execute("COMMIT")
        except duckdb.Error:
            con.execute("ROLLBACK")  # untouched: the caller rebuilds it from the JSONL
            return False
    return version == SCHEMA_VERSION


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables that are missing and record the schema version of a new index.

    An existing version is left alone: stamping it here would hide from the next update that
    an older index needs rebuilding (other writers, like the evaluations, call this too).
    """
    for ddl in _DDL:
        con.execute(ddl)
    con.execute("INSERT OR IGNORE INTO index_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])


def response_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every column of ``responses`` with its SQL type, in table order."""
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE table_name = 'responses' AND schema_name = 'main' ORDER BY column_index"
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}
