"""Prompts with their answers for the report's tables: the sample and the lowest-scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from runner.report.results_db import read_literal
from runner.wire_json import std_loads

# Answers shown in full-ish in the report's tables: the sample and the lowest-scoring.
SAMPLE_SIZE = 5
LOWEST_SCORING = 5
PROMPT_CHARS = 300
ANSWER_CHARS = 600


def readable(value: Any) -> str:
    """A prompt or answer as text: a string as is, turns and chats one per paragraph."""
    if isinstance(value, str):
        try:
            value = std_loads(value)  # an answer of [[[[... is text here
        except json.JSONDecodeError:
            return str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return "\n\n".join(_turn(item) for item in value)
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def _turn(item: Any) -> str:
    if isinstance(item, dict) and "role" in item:
        content = item.get("content", item.get("parts", ""))
        if isinstance(content, list):
            content = " ".join(
                str(p.get("text", "[" + str(p.get("type", "part")) + "]"))
                if isinstance(p, dict)
                else str(p)
                for p in content
            )
        return f"{item['role']}: {content}"
    return str(item) if isinstance(item, str) else json.dumps(item, ensure_ascii=False)


def answers(con: duckdb.DuckDBPyConnection, keys_sql: str) -> list[dict[str, Any]]:
    """The prompts ``keys_sql`` names (prompt_key, step, score) with their prompt and answer.

    Reads the results file again for those prompts only: the run's table keeps no answers.
    """
    rows = con.execute(
        f"WITH k AS ({keys_sql}) SELECT coalesce(raw.model_name, raw.api, '?') AS model, "
        "raw.prompt_key, CAST(raw.prompt AS VARCHAR) AS prompt, "
        "CAST(raw.response AS VARCHAR) AS answer, raw.status, raw.error, k.step, k.score "
        "FROM raw JOIN k USING (prompt_key) "
        "QUALIFY row_number() OVER (PARTITION BY raw.prompt_key, k.step "
        "ORDER BY raw.line DESC) = 1 ORDER BY k.score NULLS LAST, raw.line"
    ).fetchall()
    out = []
    for model, key, prompt, answer, status, error, step, score in rows:
        text = readable(answer) if answer is not None else f"[{status}] {error or ''}"
        out.append(
            {
                "model": model,
                "prompt_key": key,
                "prompt": _cut(readable(prompt), PROMPT_CHARS),
                "answer": _cut(text, ANSWER_CHARS),
                "status": status,
                "step": step,
                "score": score,
            }
        )
    return out


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lowest_scoring(con: duckdb.DuckDBPyConnection, evaluations: Path) -> list[dict[str, Any]]:
    """The prompts with the lowest scores (any step), with their prompt and answer."""
    path = read_literal(evaluations)
    return answers(
        con,
        "WITH ev AS (SELECT *, row_number() OVER () AS seq FROM read_json("
        f"{path}, format = 'newline_delimited', ignore_errors = true, columns = "
        "{'prompt_key': 'VARCHAR', 'step': 'VARCHAR', 'field': 'VARCHAR', 'value': 'JSON'})), "
        "e AS (SELECT * FROM ev WHERE field = 'score' QUALIFY row_number() OVER "
        "(PARTITION BY prompt_key, step ORDER BY seq DESC) = 1) "
        "SELECT prompt_key, step, CASE json_type(value) WHEN 'BOOLEAN' THEN "
        "CAST(CAST(value AS VARCHAR) = 'true' AS DOUBLE) "
        "ELSE TRY_CAST(CAST(value AS VARCHAR) AS DOUBLE) END AS score FROM e "
        f"WHERE score IS NOT NULL ORDER BY score, prompt_key LIMIT {LOWEST_SCORING}",
    )
