"""``output_schema``: a JSON Schema the answer must follow, read and put in each API's form.

A schema is given inline (a YAML/JSON object, or JSON text), as a path to a ``.json`` file,
or as a pydantic model ``package.module:Class``: as a run setting (also in an experiment's
YAML), in a model's YAML, or on a record (its ``output_schema`` field; a record's wins, then
the model's, then the run's). Before anything is sent, the schema goes into the record's
``parameters`` in its API's own form (:func:`native_parameters`), so the request, the batch
line, the cache key and the token estimate all carry it with no provider knowing about it;
:func:`runner.prompts.output_check.sent_schema` reads it back to check the answer.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.prompts.output_check import validator_for
from runner.prompts.output_styles import WRITERS, output_style, styled_apis
from runner.prompts.records import PromptRecord
from runner.wire_json import std_loads

FIELD = "output_schema"
_CLASS_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class SchemaError(ValueError):
    """An ``output_schema`` that cannot be used (the message says why; the caller says where)."""


def load_schema(value: Any, base: Path) -> dict[str, Any]:
    """The JSON Schema ``value`` names, checked to be a valid schema.

    Args:
        value: a mapping (the schema), JSON text, a ``.json`` path (relative to ``base``)
            or ``module:Class`` of a pydantic model.
        base: the folder relative paths start from.

    Raises:
        SchemaError: unreadable, not a schema, or an unknown class.
    """
    if isinstance(value, Mapping):
        schema: Any = dict(value)
    elif isinstance(value, str) and value.strip().startswith("{"):
        try:
            schema = std_loads(value)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    elif isinstance(value, str) and value.endswith(".json"):
        schema = _read_file(Path(value).expanduser(), base)
    elif isinstance(value, str) and _CLASS_REF.match(value):
        schema = _pydantic_schema(value)
    else:
        raise SchemaError(
            f"{value!r} is not a schema: give a JSON Schema object, a path to a .json file, "
            "or a pydantic model as package.module:Class"
        )
    if not isinstance(schema, dict):
        raise SchemaError(f"a JSON Schema must be an object, got {type(schema).__name__}")
    try:
        validator_for(schema)
    except ValueError as exc:
        raise SchemaError(f"not a valid JSON Schema: {exc}") from None
    except RecursionError:  # parsed, but deeper than the schema checker can walk
        raise SchemaError("not a valid JSON Schema: nested too deeply to check") from None
    return schema


def _read_file(path: Path, base: Path) -> Any:
    full = path if path.is_absolute() else base / path
    try:
        text = full.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read {full}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return std_loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"{full}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})"
        ) from None


def _pydantic_schema(reference: str) -> Any:
    """The JSON Schema of the pydantic model ``module:Class`` (pydantic imported only here)."""
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SchemaError(f"cannot import {module_name!r} ({exc}); check the module path") from None
    for name in attribute.split("."):
        target = getattr(target, name, None)
        if target is None:
            raise SchemaError(f"{module_name!r} has no {attribute!r}")
    model_json_schema = getattr(target, "model_json_schema", None)
    if not callable(model_json_schema):
        raise SchemaError(f"{reference} is not a pydantic model (it has no model_json_schema)")
    try:
        return model_json_schema()
    except Exception as exc:  # pydantic refuses some models (arbitrary types, ...)
        raise SchemaError(f"{reference}: pydantic gave no JSON Schema: {exc}") from None


def schema_name(schema: Mapping[str, Any]) -> str:
    """The name OpenAI asks for (``[a-zA-Z0-9_-]{1,64}``): the schema's title, else output."""
    title = re.sub(r"[^a-zA-Z0-9_-]", "_", str(schema.get("title") or ""))[:64]
    return title or "output"


def fits_strict(schema: Any) -> bool:
    """Whether OpenAI's strict mode takes ``schema``: every object lists all its properties
    as ``required`` and sets ``additionalProperties: false`` (a pydantic model's schema does
    not by default). Strict mode refuses other schemas with a 400; they are sent with
    ``strict: false`` and the answers checked here all the same."""
    if isinstance(schema, list):
        return all(fits_strict(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        props = properties if isinstance(properties, dict) else {}
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required") or ()) != set(props):
            return False
    nested = [v for k, v in schema.items() if k in _SUBSCHEMAS]
    nested += [*(schema.get("properties") or {}).values(), *(schema.get("$defs") or {}).values()]
    return all(fits_strict(s) for s in nested)


# Keywords whose value is a schema or a list of schemas (properties and $defs are maps).
_SUBSCHEMAS = frozenset({"items", "anyOf", "allOf", "oneOf", "prefixItems", "not"})


def native_parameters(api: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The request parameters that ask ``api`` for an answer following ``schema``.

    In the form ``api``'s provider declares (runner.prompts.output_styles).
    """
    style = output_style(api)
    if style is None:
        raise SchemaError(f"api {api!r} has no structured output; known: {styled_apis()}")
    return WRITERS[style](schema, schema_name(schema), fits_strict(schema))


class SchemaApplier:
    """Puts each record's schema in its parameters; schemas read once per distinct value.

    Args:
        default: the model's or the run's schema (already loaded), for records without one.
        base: the folder a record's relative ``.json`` path starts from (the experiment's).
    """

    def __init__(self, default: dict[str, Any] | None, base: Path) -> None:
        self.default = default
        self.base = base
        self._loaded: dict[str, dict[str, Any] | SchemaError] = {}

    def apply(self, record: PromptRecord) -> list[str]:
        """Add the schema's parameters to ``record``; its problems (file:line prefixed)."""
        value = record.data.get(FIELD)
        try:
            schema = self.default if value is None else self._load(value)
            if schema is None:
                return []
            extra = native_parameters(record.api, schema)
        except SchemaError as exc:
            return [f"{record.where}: {FIELD}: {exc}"]
        record.data["parameters"] = {**record.parameters, **extra}
        return []

    def _load(self, value: Any) -> dict[str, Any]:
        key = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        found = self._loaded.get(key)
        if found is None:
            try:
                found = load_schema(value, self.base)
            except SchemaError as exc:
                found = exc
            self._loaded[key] = found
        if isinstance(found, SchemaError):
            raise found
        return found
