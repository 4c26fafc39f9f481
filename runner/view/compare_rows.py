"""The compare view's rows: a page of row keys (input or score order) and the cells of each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb

from runner.view.reads import page_scores, records

if TYPE_CHECKING:
    from runner.view.compare import Column


# One row per index run id of a column: (run id, model, variant, column number).
Member = tuple[str, str, str | None, int]


# A prompto file's row is its prompt (by id); a template's is its data row and repeat.
_FILE_ROW = "coalesce({p}id, {p}prompt)"


def row_sql(con: duckdb.DuckDBPyConnection, prefix: str = "") -> str:
    """The SQL of a row's key: a template's data row (row_id#repeat), else the file's id."""
    have = {
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'responses'"
        ).fetchall()
    }
    if "row_id" not in have:  # no template experiment was ever indexed
        return _FILE_ROW.format(p=prefix)
    repeat = (
        f"coalesce('#' || CAST({prefix}\"repeat\" AS VARCHAR), '')" if "repeat" in have else "''"
    )
    row = f"CAST({prefix}row_id AS VARCHAR) || {repeat}"
    return f"coalesce({row}, {_FILE_ROW.format(p=prefix)})"


def _cols_sql(members: list[Member], params: dict[str, Any]) -> str:
    for i, (run_id, model, variant, _) in enumerate(members):
        params[f"r{i}"], params[f"m{i}"], params[f"v{i}"] = run_id, model, variant
    values = ", ".join(
        f"($r{i}, $m{i}, CAST($v{i} AS VARCHAR), {col})" for i, (_, _, _, col) in enumerate(members)
    )
    return f"cols(run_id, model, variant, col) AS (VALUES {values})"


def input_page(
    con: duckdb.DuckDBPyConnection,
    experiment: str,
    first: Column,
    row: str,
    page: int,
    size: int,
) -> tuple[list[tuple[str, float | None, float | None]], int]:
    """Prompts in input order, as the first column holds them (no aggregation at all)."""
    runs = first.runs or [first.run_id]
    params: dict[str, Any] = {"e": experiment, "m": first.model, "v": first.variant}
    params.update({f"r{i}": run_id for i, run_id in enumerate(runs)})
    marks = ", ".join(f"$r{i}" for i in range(len(runs)))
    where = (
        f"WHERE experiment = $e AND run_id IN ({marks}) AND coalesce(model_name, api, '?') = $m "
        "AND prompt_variant IS NOT DISTINCT FROM CAST($v AS VARCHAR)"
    )
    count = con.execute(f"SELECT count(*) FROM responses {where}", params).fetchone()
    keys = con.execute(
        f"SELECT {row} FROM responses {where} ORDER BY run_id, line LIMIT $size OFFSET $offset",
        {**params, "size": size, "offset": (page - 1) * size},
    ).fetchall()
    return [(str(k[0]), None, None) for k in keys], int(count[0]) if count else 0


def score_order(
    con: duckdb.DuckDBPyConnection,
    experiment: str,
    members: list[Member],
    row: str,
    order: str,
    a: int,
    b: int,
    min_spread: float | None,
) -> list[tuple[str, float | None, float | None]]:
    """Every prompt with its score spread and A minus B, in the order asked for."""
    params: dict[str, Any] = {"e": experiment}
    having = "" if min_spread is None else f"WHERE spread >= {float(min_spread)!r}"
    sort = {
        "spread": "spread DESC NULLS LAST, line",
        "a_minus_b": "a_minus_b DESC NULLS LAST, line",
        "b_minus_a": "a_minus_b ASC NULLS LAST, line",
    }[order]
    rows = con.execute(
        f"WITH {_cols_sql(members, params)}, "
        f"a AS (SELECT {row} AS pk, r.prompt_key, r.line, r.run_id, "
        "cols.col, r.status FROM responses r JOIN cols ON r.run_id = cols.run_id "
        "AND coalesce(r.model_name, r.api, '?') = cols.model "
        "AND r.prompt_variant IS NOT DISTINCT FROM cols.variant WHERE r.experiment = $e), "
        "s AS (SELECT run_id, prompt_key, avg(value_num) AS score FROM evaluations "
        "WHERE field = 'score' AND run_id IN (SELECT run_id FROM cols) GROUP BY ALL), "
        # An answer that ended in error scores 0 when rows are compared: it lost to any answer.
        "j AS (SELECT a.*, coalesce(s.score, CASE WHEN a.status <> 'ok' THEN 0 END) AS cmp "
        "FROM a LEFT JOIN s USING (run_id, prompt_key)), "
        "p AS (SELECT pk, min(line) AS line, max(cmp) - min(cmp) AS spread, "
        f"max(cmp) FILTER (WHERE col = {a}) - max(cmp) FILTER (WHERE col = {b}) "
        f"AS a_minus_b FROM j GROUP BY pk) SELECT pk, spread, a_minus_b FROM p {having} "
        f"ORDER BY {sort}",
        params,
    ).fetchall()
    return [(str(pk), spread, diff) for pk, spread, diff in rows]


def page_cells(
    con: duckdb.DuckDBPyConnection,
    experiment: str,
    members: list[Member],
    row: str,
    keys: list[str],
) -> list[dict[str, Any]]:
    """The cells (answer, score, cost, latency) of the rows ``keys`` in the columns ``members``."""
    params: dict[str, Any] = {"e": experiment}
    marks = ", ".join(f"$k{i}" for i in range(len(keys)))
    params.update({f"k{i}": k for i, k in enumerate(keys)})
    runs = ", ".join(f"$r{i}" for i in range(len(members)))
    params.update({f"r{i}": run_id for i, (run_id, _, _, _) in enumerate(members)})
    # Row ids first, the text after: reading the answers of every row scanned cost 4 times
    # the scan itself at a million rows.
    ids = [
        int(r[0])
        for r in con.execute(
            f"SELECT rowid FROM responses WHERE experiment = $e AND run_id IN ({runs}) "
            f"AND {row} IN ({marks})",
            params,
        ).fetchall()
    ]
    if not ids:
        return []
    col_of = {(run_id, model, variant): col for run_id, model, variant, col in members}
    cells = []
    for cell in records(
        con,
        f"SELECT {row} AS pk, prompt, prompt_key, run_id, prompt_variant, "
        "coalesce(model_name, api, '?') AS model, status, error_kind, latency_s, cost_usd, "
        "left(coalesce(response, error, ''), 2000) AS answer FROM responses "
        f"WHERE rowid IN ({', '.join(map(str, ids))})",
        {},
    ):
        variant = cell.pop("prompt_variant")
        col = col_of.get((str(cell["run_id"]), str(cell["model"]), variant))
        if col is not None:
            cell["col"] = col
            cells.append(cell)
    # Scores in a second, small query: a CTE used twice is computed twice.
    pairs_found = sorted({(str(c["run_id"]), str(c["prompt_key"])) for c in cells})
    scores = page_scores(con, pairs_found) if pairs_found else {}
    for cell in cells:
        cell["score"] = scores.get((str(cell["run_id"]), str(cell["prompt_key"])))
    return cells
