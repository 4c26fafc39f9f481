"""How each API asks for an answer following a JSON Schema: a few request forms, by name.

A provider declares its form (``structured_output = "openai_chat"``, ...); registering it
calls :func:`declare_output_style`. :func:`runner.prompts.output_schema.native_parameters`
writes a schema in that form and :func:`runner.prompts.output_check.sent_schema` reads it back,
so a new provider of a known form needs no edit here.

Sources: OpenAI chat ``response_format``, strict where the schema allows
(platform.openai.com/docs/guides/structured-outputs), Anthropic ``output_format``
(docs.claude.com/en/docs/build-with-claude/structured-outputs; the API now also names it
``output_config.format``), Gemini ``responseJsonSchema``
(ai.google.dev/gemini-api/docs/structured-output), Ollama ``format``
(docs.ollama.com/capabilities/structured-outputs), llama-cpp-python's ``response_format``
with ``schema`` (a JSON-schema grammar), TGI's ``response_format`` with ``value``
(huggingface.co/docs/text-generation-inference/conceptual/guidance; TGI refuses OpenAI's
nested ``json_schema``: huggingface/text-generation-inference#3058).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Params = dict[str, Any]


def _openai_chat(schema: Params, name: str, strict: bool) -> Params:
    spec = {"name": name, "schema": schema, "strict": strict}
    return {"response_format": {"type": "json_schema", "json_schema": spec}}


def _json_object(key: str) -> Callable[[Params, str, bool], Params]:
    def write(schema: Params, name: str, strict: bool) -> Params:
        return {"response_format": {"type": "json_object", key: schema}}

    return write


# Style -> (schema, its name, whether it fits strict mode) -> the request's parameters.
WRITERS: dict[str, Callable[[Params, str, bool], Params]] = {
    "openai_chat": _openai_chat,
    "anthropic": lambda schema, name, strict: {
        "output_format": {"type": "json_schema", "schema": schema}
    },
    "gemini": lambda schema, name, strict: {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    },
    "ollama": lambda schema, name, strict: {"format": schema},
    "llama_cpp": _json_object("schema"),
    "tgi": _json_object("value"),
}


def _output_format(params: Mapping[str, Any]) -> Any:
    fmt = params.get("output_format")
    return fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None


# Style -> the schema its parameters carry, where ``response_format`` holds none (None: none).
READERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "anthropic": _output_format,
    "gemini": lambda params: params.get("responseJsonSchema"),
    "ollama": lambda params: params.get("format"),
}

_DECLARED: dict[str, str] = {}


def declare_output_style(api: str, style: str) -> None:
    """Note that ``api`` asks for structured output in ``style`` (one of ``WRITERS``)."""
    if style not in WRITERS:
        known = ", ".join(sorted(WRITERS))
        raise ValueError(f"api {api!r}: structured_output {style!r} is none of {known}")
    _DECLARED[api] = style


def output_style(api: str) -> str | None:
    """The form ``api`` takes a JSON Schema in (None: it has no structured output)."""
    return _DECLARED.get(api)


def styled_apis() -> list[str]:
    """The apis that declared a form, sorted (for messages)."""
    return sorted(_DECLARED)
