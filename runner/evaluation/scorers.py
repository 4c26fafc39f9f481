"""Built-in scorers: functions of one result line that return named fields.

Every scorer is called as ``scorer(line, **params)`` and returns ``{field: value}``; a custom
function (see :mod:`runner.evaluation.custom`) follows the same contract, so the pipeline
treats both alike. ``check`` functions find bad parameters before anything is sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runner.evaluation.jsonschema import schema_errors
from runner.wire_json import std_loads

Fields = dict[str, Any]
ScorerFn = Callable[..., Any]

EXPECTED = "expected_response"
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_FLAGS = {"IGNORECASE": re.IGNORECASE, "MULTILINE": re.MULTILINE, "DOTALL": re.DOTALL}
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def response_text(line: Mapping[str, Any]) -> str:
    """The text scored: the response, or the last reply of a multi-turn conversation."""
    response = line.get("response")
    if isinstance(response, list):
        response = response[-1] if response else ""
    return "" if response is None else str(response)


def _expected(line: Mapping[str, Any], key: str) -> str:
    value = line.get(key)
    if value is None:
        raise ValueError(f"the record has no {key!r}")
    return str(value)


def exact_match(
    line: Mapping[str, Any],
    expected_key: str = EXPECTED,
    strip: bool = False,
    case_sensitive: bool = True,
) -> Fields:
    """prompto's ``match``: the response equals the expected response."""
    got, want = response_text(line), _expected(line, expected_key)
    if strip:
        got, want = got.strip(), want.strip()
    if not case_sensitive:
        got, want = got.casefold(), want.casefold()
    return {"score": got == want}


def includes(
    line: Mapping[str, Any], expected_key: str = EXPECTED, case_sensitive: bool = True
) -> Fields:
    """prompto's ``includes``: the expected response occurs in the response."""
    got, want = response_text(line), _expected(line, expected_key)
    if not case_sensitive:
        got, want = got.casefold(), want.casefold()
    return {"score": want in got}


def _compile(pattern: str, flags: list[str] | None = None) -> re.Pattern[str]:
    value = 0
    for name in flags or []:
        value |= _FLAGS[str(name).upper()]
    return re.compile(pattern, value)


def regex(
    line: Mapping[str, Any], pattern: str, flags: list[str] | None = None, full: bool = False
) -> Fields:
    """The response matches ``pattern``; ``match`` is group 1 when there is one, else all."""
    compiled = _compile(pattern, flags)
    text = response_text(line)
    found = compiled.fullmatch(text) if full else compiled.search(text)
    if found is None:
        return {"score": False, "match": None}
    return {"score": True, "match": found.group(1) if compiled.groups else found.group(0)}


def valid_json(line: Mapping[str, Any], schema: dict[str, Any] | None = None) -> Fields:
    """The response is JSON (a fenced ```json block counts), valid against ``schema`` if given."""
    text = response_text(line).strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        value = std_loads(text)  # an answer of [[[[... is not JSON here, not an error
    except json.JSONDecodeError as exc:
        return {"score": False, "reason": f"not JSON: {exc}"}
    problems = schema_errors(value, schema) if schema else []
    return {"score": not problems, "reason": "; ".join(problems[:3]) or None}


def numeric(
    line: Mapping[str, Any],
    expected_key: str = EXPECTED,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
) -> Fields:
    """The first number in the response is close to the expected number."""
    want = float(_expected(line, expected_key))
    found = _NUMBER.search(response_text(line).replace(",", ""))
    if found is None:
        return {"score": False, "value": None, "difference": None}
    got = float(found.group(0))
    close = math.isclose(got, want, rel_tol=rel_tol, abs_tol=abs_tol)
    return {"score": close, "value": got, "difference": got - want}


def length(
    line: Mapping[str, Any], unit: str = "chars", min: int | None = None, max: int | None = None
) -> Fields:
    """The response's length in chars, words or lines; ``score`` when bounds are given."""
    text = response_text(line)
    size = {"chars": len(text), "words": len(text.split()), "lines": len(text.splitlines())}[unit]
    fields: Fields = {"length": size}
    if min is not None or max is not None:
        fields["score"] = (min is None or size >= min) and (max is None or size <= max)
    return fields


def _check_regex(params: Mapping[str, Any]) -> list[str]:
    try:
        flags = params.get("flags") or []
        unknown = [f for f in flags if str(f).upper() not in _FLAGS]
        if unknown:
            return [f"unknown regex flag(s) {unknown}; use {sorted(_FLAGS)}"]
        _compile(str(params.get("pattern", "")), flags)
    except re.error as exc:
        return [f"params.pattern is not a valid regular expression: {exc}"]
    return []


def _check_length(params: Mapping[str, Any]) -> list[str]:
    unit = params.get("unit", "chars")
    return [] if unit in ("chars", "words", "lines") else [f"unit {unit!r}: use chars|words|lines"]


def _check_json(params: Mapping[str, Any]) -> list[str]:
    schema = params.get("schema")
    if schema is None:
        return []
    if not isinstance(schema, Mapping):
        return ["params.schema must be a JSON schema (a mapping)"]
    try:
        schema_errors(None, schema)  # checks the schema itself first
    except ValueError as exc:
        return [f"params.schema is not a valid JSON Schema: {exc}"]
    return []


@dataclass(frozen=True)
class Builtin:
    """A built-in scorer: the function, a parameter check, and the record keys it reads."""

    fn: ScorerFn
    check: Callable[[Mapping[str, Any]], list[str]] = lambda _params: []
    reads_expected: bool = False

    def needed_keys(self, params: Mapping[str, Any]) -> list[str]:
        """Record keys every scored line must have."""
        return [str(params.get("expected_key", EXPECTED))] if self.reads_expected else []


BUILTINS: dict[str, Builtin] = {
    "exact_match": Builtin(exact_match, reads_expected=True),
    "includes": Builtin(includes, reads_expected=True),
    "regex": Builtin(regex, _check_regex),
    "json": Builtin(valid_json, _check_json),
    "numeric": Builtin(numeric, reads_expected=True),
    "length": Builtin(length, _check_length),
}
