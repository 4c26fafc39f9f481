"""JSON Schema checks for the ``json`` scorer: the ``jsonschema`` package when installed.

runner does not depend on ``jsonschema``; without it, a built-in subset is checked (``type``,
``enum``, ``const``, ``required``, ``properties``, ``additionalProperties: false``, ``items``,
``minimum``, ``maximum``, ``minLength``, ``maxLength``, ``minItems``, ``maxItems``), which
covers the usual "is the answer an object with these fields" question.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _type_ok(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False  # JSON booleans are not numbers, though Python's bool is an int
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(expected, (object,)))


def _subset_errors(value: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    errors: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_type_ok(value, str(k)) for k in kinds):
            return [f"{where}: expected {' or '.join(map(str, kinds))}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: must be {schema['const']!r}")
    if isinstance(value, dict):
        errors += [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        props: Mapping[str, Any] = schema.get("properties", {})
        for key, sub in props.items():
            if key in value:
                errors += _subset_errors(value[key], sub, f"{where}.{key}")
        if schema.get("additionalProperties") is False:
            errors += [f"{where}: unexpected {k!r}" for k in value if k not in props]
    if isinstance(value, list):
        if isinstance(schema.get("items"), Mapping):
            for i, item in enumerate(value):
                errors += _subset_errors(item, schema["items"], f"{where}[{i}]")
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: above {schema['maximum']}")
    return errors


def schema_errors(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Why ``value`` does not follow ``schema``; empty when it does."""
    try:
        # Imported by name: it is optional, and has no type stubs.
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:
        return _subset_errors(value, schema, "$")
    validator = jsonschema.Draft202012Validator(dict(schema))
    return [f"$.{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(value)]
