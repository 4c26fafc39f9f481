"""Checking an answer against the JSON Schema its request carried, with ``jsonschema``.

The schema is read back from the request's parameters in its API's form (see
runner.prompts.output_schema), so a schema written straight into ``parameters``
(``response_format``, ``output_format``, ...) is checked the same way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from runner.prompts.output_styles import READERS, output_style
from runner.prompts.records import PromptRecord
from runner.wire_json import std_loads

# Finish reasons that mean "cut at the token limit", in each API's words.
TRUNCATED = frozenset({"length", "max_tokens", "MAX_TOKENS", "max_output_tokens"})


@functools.lru_cache(maxsize=64)
def _validator(text: str) -> Any:
    import jsonschema  # a tenth of a second: only a run that checks answers pays it

    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(map(str, exc.path))
        raise ValueError(f"{exc.message}" + (f" (at {where})" if where else "")) from None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validator_for(schema: Mapping[str, Any]) -> Any:
    """A ``jsonschema`` validator of ``schema`` (its ``$schema``'s draft, else 2020-12).

    Kept per schema text: an answer's check builds no validator.

    Raises:
        ValueError: ``schema`` is not a valid JSON Schema.
    """
    return _validator(json.dumps(schema, sort_keys=True, default=str))


def schema_errors(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Why ``value`` does not follow ``schema``, one line per error; empty when it does."""
    return [
        f"$.{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator_for(schema).iter_errors(value)
    ]


def sent_schema(record: PromptRecord) -> dict[str, Any] | None:
    """The JSON Schema ``record``'s request asks the answer to follow; None: plain text."""
    params = record.parameters
    if not params:
        return None
    found: Any = None
    # OpenAI chat (json_schema), llama.cpp (json_object + schema), TGI (json_object + value)
    fmt = params.get("response_format")
    if isinstance(fmt, dict):
        nested = fmt.get("json_schema")
        found = nested.get("schema") if isinstance(nested, dict) else fmt.get("schema")
        if found is None and output_style(record.api) == "tgi":
            found = fmt.get("value")
    else:
        read = READERS.get(output_style(record.api) or "")
        found = read(params) if read is not None else None
    return found if isinstance(found, dict) else None


def check_answer(text: Any, finish_reason: str | None, schema: Mapping[str, Any]) -> Any:
    """The answer parsed as JSON and checked against ``schema``.

    A multi-turn prompt's answer (a list of replies) is checked by its last reply.

    Raises:
        ValueError: cut at the token limit, not JSON, or not following the schema; the
            message says which and where.
    """
    if isinstance(text, list):
        text = text[-1] if text else ""
    if finish_reason in TRUNCATED:
        raise ValueError(f"the answer was cut at the token limit (finish_reason {finish_reason})")
    try:
        value = std_loads(text)  # an answer of [[[[... is not JSON here, not a crash
    except (TypeError, json.JSONDecodeError) as exc:
        shown = str(text)[:80]
        raise ValueError(f"the answer is not JSON ({exc}): {shown!r}") from None
    import jsonschema.exceptions

    try:
        error = jsonschema.exceptions.best_match(validator_for(schema).iter_errors(value))
    except RecursionError:
        raise ValueError("the answer is nested too deeply to check against the schema") from None
    if error is not None:
        where = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        raise ValueError(f"the answer does not follow the schema at {where}: {error.message}")
    return value
