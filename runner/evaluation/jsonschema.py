"""JSON Schema checks for the ``json`` scorer: the ``jsonschema`` package, as answers are checked.

The scorer and structured output (``output_schema``) check answers with the same validator
(runner.prompts.output_check): the schema's own ``$schema`` draft, else 2020-12.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.prompts.output_check import schema_errors as _schema_errors


def schema_errors(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Why ``value`` does not follow ``schema``; empty when it does.

    Raises:
        ValueError: ``schema`` is not a valid JSON Schema.
    """
    return _schema_errors(value, schema)
